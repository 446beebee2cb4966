"""Transformations applied to images before feature extraction, and preprocessing policies."""

from .perturb import TRANSFORMS, TransformSpec, apply_transform
from .preprocess import PREPROCESS_POLICIES, Preprocessing, build_preprocess

__all__ = ["TRANSFORMS", "TransformSpec", "apply_transform", "PREPROCESS_POLICIES", "Preprocessing", "build_preprocess"]
