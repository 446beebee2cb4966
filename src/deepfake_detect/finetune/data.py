"""Images for training and evaluation: decoded in DataLoader workers, bad files skipped by name.

Determinism: every random draw (shuffling, augmentation, dropout) is derived from
(run seed, epoch). The loader's generator is seeded with it, which fixes the order and the
seed of each worker, so an epoch is the same whether it runs straight through or after a
`--resume`, and nothing random has to be carried in a checkpoint.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from ..data import BadImage, ImageRecord, load_rgb
from ..data.images import DEFAULT_MAX_PIXELS
from ..transforms.degrade import degrade

Degradation = tuple[str, float]


class RecordImages(TorchDataset):
    """Record i -> (i, tensor or None, label, why it is unusable)."""

    def __init__(
        self,
        records: Sequence[ImageRecord],
        to_tensor: Callable[[Image.Image], torch.Tensor],
        degradation: Degradation | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ):
        self.records = list(records)
        self.to_tensor = to_tensor
        self.degradation = degradation
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, int, str]:
        record = self.records[index]
        try:
            img = load_rgb(record.path, self.max_pixels)
        except BadImage as exc:
            return index, None, record.label, str(exc)
        if self.degradation is not None:
            img = degrade(img, *self.degradation)
        return index, self.to_tensor(img), record.label, ""


@dataclass
class Batch:
    indices: list[int]
    images: torch.Tensor | None
    labels: torch.Tensor
    bad: list[str]

    def __len__(self) -> int:
        return len(self.indices)


def collate_usable(items: list[tuple[int, torch.Tensor | None, int, str]]) -> Batch:
    """Stack the images that decoded; keep the reasons of those that did not."""
    good = [(i, x, y) for i, x, y, _ in items if x is not None]
    return Batch(
        indices=[i for i, _, _ in good],
        images=torch.stack([x for _, x, _ in good]) if good else None,
        labels=torch.tensor([y for _, _, y in good], dtype=torch.long),
        bad=[reason for _, x, _, reason in items if x is None],
    )


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % 2**63


def seed_everything(seed: int) -> None:
    """Seed the main process: dropout, drop-connect, and augmentation when workers=0."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def seed_worker(worker_id: int) -> None:
    """torch is already seeded per worker by the DataLoader; make Python and numpy follow."""
    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)


def make_loader(
    dataset: RecordImages, batch_size: int, workers: int, shuffle: bool, seed: int = 0
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        collate_fn=collate_usable,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=seed_worker,
        prefetch_factor=2 if workers else None,
        pin_memory=torch.cuda.is_available(),
    )


class BadFileReporter:
    """Warn once per unusable file, however many epochs meet it again."""

    def __init__(self, warn: Callable[[str], None]):
        self.warn = warn
        self.seen: set[str] = set()

    def __call__(self, reasons: list[str]) -> None:
        for reason in reasons:
            if reason not in self.seen:
                self.seen.add(reason)
                self.warn(f"skipped {reason}")
