"""Train/test splits that are seeded, stratified, and disjoint by image content and by group.

Splitting by image id (a content hash) rather than by row means a picture that appears twice
in a dataset can never sit on both sides of the split and inflate the score. Groups go one step
further for aligned data: a real photo and the fakes generated from it share a group, and a
detector that saw the real in training must not be tested on its fakes (or the other way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, train_test_split


def split_by_id(
    labels: Sequence[int],
    ids: Sequence[str],
    test_size: float = 0.2,
    seed: int = 0,
    groups: Sequence[str | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test). Every copy of an image goes to the same side, and so does
    every row of a group when `groups` names some (rows whose group is None go by id alone).

    Without groups (None, or all None) the split is exactly the id-only split, so splits and
    the caches built on them do not change.

    Unstratified, whole units are drawn by scikit-learn's `GroupShuffleSplit`. Stratified, they
    are drawn by `train_test_split(stratify=...)` over the units, which is a stratified group
    shuffle split: scikit-learn's group splitters either do not stratify (`GroupShuffleSplit`)
    or split only in 1/k fractions (`StratifiedGroupKFold`: a test size of 0.3 becomes 1/3).
    """
    labels = np.asarray(labels)
    if groups is None or all(g is None for g in groups):
        _, first_row, unit = np.unique(np.asarray(ids), return_index=True, return_inverse=True)
        strata = labels[first_row]
    else:
        unit = _linked_units(ids, groups)
        strata = _usable_strata(_unit_strata(labels, unit), test_size)
    if strata is None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        _, test_rows = next(splitter.split(labels, groups=unit))
        is_test = np.isin(np.arange(len(unit)), test_rows)
    else:
        _, test_units = train_test_split(
            np.arange(unit.max() + 1), test_size=test_size, random_state=seed, stratify=strata
        )
        is_test = np.isin(unit, test_units)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def _linked_units(ids: Sequence[str], groups: Sequence[str | None]) -> np.ndarray:
    """Per row, the index of its unit: rows joined by a shared id or a shared group."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    first_row_of: dict[tuple[str, str], int] = {}
    rows, links = [], []
    for row, (image_id, group) in enumerate(zip(ids, groups)):
        keys = [("id", image_id)] + ([("group", group)] if group is not None else [])
        for key in keys:  # each row links to the first row that had the same id or group
            rows.append(row)
            links.append(first_row_of.setdefault(key, row))
    n = len(ids)
    graph = coo_matrix((np.ones(len(rows)), (rows, links)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _unit_strata(labels: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Per unit, which labels it holds: 0 real only, 1 fake only, 2 both (a real and its fakes)."""
    has = np.zeros((unit.max() + 1, 2), dtype=bool)
    has[unit, labels] = True
    return np.where(has.all(axis=1), 2, has.argmax(axis=1))


def _usable_strata(strata: np.ndarray, test_size: float) -> np.ndarray | None:
    """Stratify by unit composition unless some composition is too rare to sit on both sides
    (say, two ungrouped extras beside many groups); then the units are split plainly."""
    counts = np.unique(strata, return_counts=True)[1]
    n_test = math.ceil(test_size * len(strata))
    if len(counts) == 1 or counts.min() < 2 or min(n_test, len(strata) - n_test) < len(counts):
        return None
    return strata
