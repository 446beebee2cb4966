"""The detector folder as an artifact: its manifest, its kinds, and `Detector` that loads it and predicts.

`Detector.load(folder).predict(images)` works the same for every kind of detector folder
(`detector.kinds`: features + classifier from `deepfake_detect.train`, fine-tuned networks from
`deepfake_detect.finetune`, published networks from `deepfake_detect.convert`).
`detector.folder` is the only code that writes or reads such a folder; the workflows that make
or change one (train, finetune, calibrate, convert, adapt) live above this package. Names are resolved on
first use, so the command line can list its commands without importing torch.
"""

from importlib import import_module

_EXPORTS = {
    "BUILTIN_DETECTOR": "builtin",
    "builtin_detector": "builtin",
    "Detector": "detector",
    "DetectorError": "detector",
    "Prediction": "detector",
    "DETECTOR_TRUSTED_TYPES": "kinds.features",
    "FORMAT_VERSION": "folder",
    "read_detector_folder": "folder",
    "write_detector_folder": "folder",
    "list_kinds": "kinds",
    "add_onnx": "onnx_export",
    "with_onnx": "onnx_export",
    "finetuned_with_onnx": "onnx_export",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
