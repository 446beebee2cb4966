"""Fine-tuning images, through the one loader (`data.loader`), and the seeds of each epoch.

Determinism: every random draw (shuffling, augmentation, dropout) is derived from
(run seed, epoch). The loader's generator is seeded with it, which fixes the order and the
seed of each worker, so an epoch is the same whether it runs straight through or after a
`--resume`, and nothing random has to be carried in a checkpoint.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from ..data import ImageRecord
from ..data.loader import ImageTensors
from ..transforms.preprocess import Preprocessing
from .augment import build_train_transform
from .config import FinetuneConfig


def preprocessing(config: FinetuneConfig, info) -> Preprocessing:
    """The test-time preprocessing of the fine-tuned network, exactly as its detector records it."""
    return Preprocessing.for_backbone(info, config.preprocess, size=config.image_size)


def training_images(records: Sequence[ImageRecord], config: FinetuneConfig, prep: Preprocessing) -> ImageTensors:
    """Augmented training images (crops, flips, blur + JPEG), decoded like the detector decodes."""
    transform = build_train_transform(prep.policy, prep.size, prep.mean, prep.std, config.augment)
    return _images(records, transform, config, prep)


def evaluation_images(records: Sequence[ImageRecord], config: FinetuneConfig, prep: Preprocessing) -> ImageTensors:
    return _images(records, prep.tensor_transform, config, prep)


def _images(records: Sequence[ImageRecord], transform, config: FinetuneConfig, prep: Preprocessing) -> ImageTensors:
    return ImageTensors([r.path for r in records], transform, labels=[r.label for r in records],
                        max_pixels=config.max_pixels, draft_size=prep.draft_size)


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % 2**63


def seed_everything(seed: int) -> None:
    """Seed the main process: dropout, drop-connect, and augmentation when workers=0."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


class BadFileReporter:
    """Warn once per unusable file, however many epochs meet it again."""

    def __init__(self, warn: Callable[[str], None]):
        self.warn = warn
        self.seen: set[str] = set()

    def __call__(self, bad: Iterable[tuple[int, str]]) -> None:
        """A batch's (position, message) pairs."""
        for _, message in bad:
            self.one(message)

    def one(self, message: str) -> None:
        if message not in self.seen:
            self.seen.add(message)
            self.warn(f"skipped {message}")
