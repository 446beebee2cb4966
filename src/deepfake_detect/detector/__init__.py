"""Detectors as products: train one and save it as a folder, load it, predict, serve it.

`Detector.load(folder).predict(images)` works the same for every kind of detector folder
(features + classifier from `train_detector`, fine-tuned networks from `deepfake_detect.finetune`).
`detector.folder` is the only code that writes or reads such a folder. Names are resolved on
first use, so the command line can list its commands without importing torch.
"""

from importlib import import_module

_EXPORTS = {
    "BUILTIN_DETECTOR": "builtin",
    "builtin_detector": "builtin",
    "DETECTOR_TRUSTED_TYPES": "features_kind",
    "Calibrated": "calibrate",
    "calibrate_detector": "calibrate",
    "Detector": "detector",
    "DetectorError": "detector",
    "Prediction": "detector",
    "FORMAT_VERSION": "folder",
    "read_detector_folder": "folder",
    "write_detector_folder": "folder",
    "list_kinds": "kinds",
    "list_references": "references",
    "make_reference_detector": "reference",
    "add_onnx": "onnx_export",
    "with_onnx": "onnx_export",
    "finetuned_with_onnx": "onnx_export",
    "TrainingPlan": "train",
    "plan_from_grid": "train",
    "threshold_for_fpr": "train",
    "train_detector": "train",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
