"""The fine-tuning data: the grid's within split (same call, same seed), then validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Dataset, ImageRecord, load_dataset
from ..evaluate.splits import split_by_id
from .config import FinetuneConfig
from .pairs import pair_groups


@dataclass
class Splits:
    dataset: Dataset
    train: list[ImageRecord]
    val: list[ImageRecord]
    test: list[ImageRecord]

    def counts(self) -> dict[str, dict[str, int]]:
        return {part: Dataset(part, getattr(self, part)).counts() for part in ("train", "val", "test")}


def load_training_data(config: FinetuneConfig) -> Dataset:
    """The dataset, checked before any work: two classes, and with `paired` whole groups."""
    dataset = load_dataset(config.dataset, config.data_root, config.max_per_class, config.seed).check_usable()
    if config.paired:
        sampled = f" (sampled by --max-per-class {config.max_per_class})" if config.max_per_class else ""
        pair_groups(dataset.records, config.dataset + sampled)
    return dataset


def split_dataset(dataset: Dataset, test_size: float, val_size: float, seed: int) -> Splits:
    """The grid's within split, then validation carved out of its training part (groups kept whole)."""
    labels, ids = np.asarray(dataset.labels), np.asarray(dataset.ids)
    groups = dataset.groups
    train_rows, test_rows = split_by_id(labels, ids, test_size, seed, groups)
    train_groups = None if groups is None else [groups[i] for i in train_rows]
    fit_rows, val_rows = split_by_id(labels[train_rows], ids[train_rows], val_size, seed, train_groups)

    def pick(rows: np.ndarray) -> list[ImageRecord]:
        return [dataset.records[i] for i in rows]

    return Splits(dataset, pick(train_rows[fit_rows]), pick(train_rows[val_rows]), pick(test_rows))
