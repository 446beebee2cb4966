"""The detector folder as an artifact: its manifest, its kinds, and `Detector` that loads it and predicts.

`Detector.load(folder).predict(images)` works the same for every kind of detector folder
(`detector.kinds`: features + classifier from `deepfake_detect.train`, fine-tuned networks from
`deepfake_detect.finetune`, published networks from `deepfake_detect.convert`).
`detector.folder` is the only code that writes or reads such a folder; the workflows that make
or change one (train, finetune, calibrate, convert, adapt) live above this package. Names are resolved on
first use, so the command line can list its commands without importing torch.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "builtin": ["BUILTIN_DETECTOR", "builtin_detector"],
    "detector": ["Detector", "DetectorError", "Prediction"],
    "kinds.features": ["DETECTOR_TRUSTED_TYPES"],
    "folder": ["FORMAT_VERSION", "read_detector_folder", "write_detector_folder"],
    "kinds": ["list_kinds"],
    "onnx_export": ["add_onnx", "with_onnx", "finetuned_with_onnx"],
})
