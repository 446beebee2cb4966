"""Fusion: several cached feature spaces side by side, used as one feature space.

A grid config's `fusions: {lowlevel: [npr_residual, srm_residual, efficientnet_lite0@blocks=2,4]}`
is evaluated as backbone `fusion:lowlevel`. Nothing new is extracted: each member's vectors come
from the cache under its own key, and an image takes part when every member has its vector.

Parts differ wildly in length (44 residual statistics beside 3000 pooled channels) and scale, so
each is standardised by its own training-set statistics and weighted by 1/sqrt(its length)
(`PartScaler`, fitted on training rows only, before the reduction): every part then carries the
same total variance, and no part drowns the others in a distance, a margin or a PCA.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from .cache import FeatureSpace

SCALING = "part-standardised-sqrt-dim"
"""Names the scaling above in cell keys: a change to it must not reuse old results."""


@dataclass(frozen=True)
class FusedSpace:
    """Member spaces, in config order; `key` identifies the fusion in cell ids (it is never a
    cache entry of its own)."""

    label: str
    parts: tuple[FeatureSpace, ...]

    @property
    def dim(self) -> int:
        return sum(self.part_dims)

    @property
    def part_dims(self) -> tuple[int, ...]:
        return tuple(part.dim for part in self.parts)

    @property
    def key(self) -> str:
        text = json.dumps({"fusion": self.label, "parts": [p.key for p in self.parts], "scaling": SCALING})
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def member_spaces(space: FeatureSpace | FusedSpace) -> tuple[FeatureSpace, ...]:
    """The cached spaces whose vectors make up `space`'s rows."""
    return space.parts if isinstance(space, FusedSpace) else (space,)


def part_dims(space: FeatureSpace | FusedSpace) -> tuple[int, ...]:
    """The lengths of the parts `PartScaler` balances; empty for a plain space (no scaling)."""
    return space.part_dims if isinstance(space, FusedSpace) else ()


class PartScaler:
    """scikit-learn-style transformer: each feature standardised (training mean and std; a
    constant feature keeps scale 1), then each part divided by sqrt(its length)."""

    def __init__(self, part_dims: tuple[int, ...]):
        self.part_dims = tuple(part_dims)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> PartScaler:
        if X.shape[1] != sum(self.part_dims):
            raise ValueError(f"{X.shape[1]} features for parts of {self.part_dims}")
        std = X.std(axis=0)
        weights = np.repeat([1.0 / np.sqrt(d) for d in self.part_dims], self.part_dims)
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0) / weights
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, y).transform(X)
