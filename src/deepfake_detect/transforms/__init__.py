"""Transformations applied to images before feature extraction, test-time degradations, and
preprocessing to a network's input."""

from .degrade import ROBUSTNESS_LEVELS, Degradation
from .perturb import TRANSFORMS, TransformSpec, apply_transform
from .preprocess import PREPROCESS_POLICIES, Preprocessing, build_preprocess

__all__ = [
    "ROBUSTNESS_LEVELS", "Degradation", "TRANSFORMS", "TransformSpec", "apply_transform",
    "PREPROCESS_POLICIES", "Preprocessing", "build_preprocess",
]
