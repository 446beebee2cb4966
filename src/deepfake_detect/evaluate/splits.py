"""Train/test splits that are seeded, stratified, and disjoint by image content.

Splitting by image id (a content hash) rather than by row means a picture that appears twice
in a dataset can never sit on both sides of the split and inflate the score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split


def split_by_id(
    labels: Sequence[int], ids: Sequence[str], test_size: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test). Every copy of an image goes to the same side."""
    labels = np.asarray(labels)
    unique_ids, first_row, inverse = np.unique(np.asarray(ids), return_index=True, return_inverse=True)
    train_ids, test_ids = train_test_split(
        np.arange(len(unique_ids)), test_size=test_size, random_state=seed, stratify=labels[first_row]
    )
    is_test = np.isin(inverse, test_ids)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
