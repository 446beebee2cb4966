"""Fine-tuning images, through the one loader (`data.loader`), and the seeds of each epoch.

Determinism: every random draw (shuffling, augmentation, dropout, and with `--paired` each
group's fake) is derived from (run seed, epoch). The loader's generator is seeded with it,
which fixes the order and the seed of each worker, so an epoch is the same whether it runs
straight through or after a `--resume`, and nothing random has to be carried in a checkpoint.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..data import ImageRecord
from ..data.loader import ImageTensors, image_loader
from ..transforms.preprocess import Preprocessing
from .augment import build_train_transform
from .config import FinetuneConfig
from .pairs import PairTensors, collate_pairs, pair_groups


def preprocessing(config: FinetuneConfig, info) -> Preprocessing:
    """The test-time preprocessing of the fine-tuned network, exactly as its detector records it."""
    return Preprocessing.for_backbone(info, config.preprocess, size=config.image_size)


def training_images(records: Sequence[ImageRecord], config: FinetuneConfig,
                    prep: Preprocessing) -> ImageTensors | PairTensors:
    """Augmented training images (crops, flips, blur + JPEG, down-scaling), decoded like the
    detector decodes; with `paired`, aligned pairs augmented alike."""
    transform = build_train_transform(prep.policy, prep.size, prep.mean, prep.std, config.augment)
    if config.paired:
        return PairTensors(pair_groups(records, "the training split"), transform, max_pixels=config.max_pixels,
                           draft_size=prep.draft_size)
    return _images(records, transform, config, prep)


def epoch_batches(images: ImageTensors | PairTensors, config: FinetuneConfig, workers: int,
                  seed: int) -> DataLoader:
    """One epoch's shuffled training batches of `config.batch_size` images (whole pairs:
    batch_size // 2 of them, each group's fake drawn from `seed`)."""
    if isinstance(images, PairTensors):
        return image_loader(images.for_epoch(seed), config.batch_size // 2, workers, shuffle=True, seed=seed,
                            collate_fn=collate_pairs)
    return image_loader(images, config.batch_size, workers, shuffle=True, seed=seed)


def image_count(images: ImageTensors | PairTensors) -> int:
    return images.n_images if isinstance(images, PairTensors) else len(images)


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
