"""Detectors as products: train one and save it as a folder, load it, predict, serve it.

`Detector.load(folder).predict(images)` works the same for feature-based detectors (from
`train_detector`) and fine-tuned networks (from `deepfake_detect.finetune`).
"""

from .detector import DETECTOR_TRUSTED_TYPES, Detector, DetectorError, Prediction
from .train import TrainingPlan, plan_from_grid, threshold_for_fpr, train_detector

__all__ = [
    "DETECTOR_TRUSTED_TYPES",
    "Detector",
    "DetectorError",
    "Prediction",
    "TrainingPlan",
    "plan_from_grid",
    "threshold_for_fpr",
    "train_detector",
]
