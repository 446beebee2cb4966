"""Rank ensembles of fine-tuned detectors (`deepfake-detect ensemble`)."""

from .build import Ensembled, build_ensemble

__all__ = ["Ensembled", "build_ensemble"]
