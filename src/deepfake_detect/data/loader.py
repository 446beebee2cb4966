"""The one torch image pipeline: files (or PIL images) in, batches of tensors out.

Extraction, fine-tuning and prediction all read images through `ImageTensors`, `collate`
and `image_loader`, so decoding, bad-file handling and worker seeding are the same in each:

    from deepfake_detect.data.loader import ImageTensors, image_loader
    from deepfake_detect.transforms.preprocess import Preprocessing

    prep = Preprocessing.for_backbone(backbone.info, "resize")
    images = ImageTensors(paths, prep.tensor_transform, labels=labels, draft_size=prep.draft_size)
    for batch in image_loader(images, batch_size=32, workers=2):
        batch.images      # (n, 3, H, W) float tensor of the usable items, or None
        batch.indices     # their positions in `paths`
        batch.labels      # their labels (long tensor), or None without labels
        batch.bad         # [(position, "path: reason")] for files that could not be used

A file that cannot be used is never raised: its `BadImage` message (which names the file)
comes back in `batch.bad`, so one bad file never stops a run of thousands.

Per-image PIL transforms plug in before the tensor transform: `image_transform(img, index)`
gets the item's position, so extraction's transformations can seed their draw by image id
and test-time degradations need not care. Training augmentation that draws from torch's
generator belongs in the tensor transform (or here), and is reproducible because
`image_loader` seeds its generator and every worker from `seed`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from ..errors import BadImage
from .images import DEFAULT_MAX_PIXELS, load_source

ImageSource = str | Path | Image.Image
TensorTransform = Callable[[Image.Image], torch.Tensor]
ImageTransform = Callable[[Image.Image, int], Image.Image]
"""(decoded RGB image, item position) -> image; e.g. a seeded blur or a JPEG degradation."""


@dataclass(frozen=True)
class LoadedImage:
    """One item: its tensor, or why it could not be used (`error` names the file)."""

    index: int
    tensor: torch.Tensor | None
    label: int | None = None
    error: str | None = None
    size: tuple[int, int] | None = None
    """(width, height) as decoded, before any transform: how much evidence the image holds."""


class ImageTensors(TorchDataset):
    """Item i -> `LoadedImage`: source i decoded to RGB (paths through data.images, so every
    decoder problem becomes one message naming the file), `image_transform`ed, then turned
    into a tensor by `tensor_transform`."""

    def __init__(
        self,
        sources: Sequence[ImageSource],
        tensor_transform: TensorTransform,
        *,
        labels: Sequence[int] | None = None,
        image_transform: ImageTransform | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        draft_size: int | None = None,
    ):
        if labels is not None and len(labels) != len(sources):
            raise ValueError(f"{len(labels)} labels for {len(sources)} images")
        self.sources = list(sources)
        self.labels = None if labels is None else [int(label) for label in labels]
        self.tensor_transform = tensor_transform
        self.image_transform = image_transform
        self.max_pixels = max_pixels
        self.draft_size = draft_size

    def __len__(self) -> int:
        return len(self.sources)

    def name(self, index: int) -> str:
        """How item `index` is named in messages: its path, or `<image N>` for a PIL image."""
        source = self.sources[index]
        return f"<image {index}>" if isinstance(source, Image.Image) else str(source)

    def __getitem__(self, index: int) -> LoadedImage:
        label = None if self.labels is None else self.labels[index]
        try:
            img = self._decoded(index)
            size = img.size
            if self.image_transform is not None:
                img = self.image_transform(img, index)
            return LoadedImage(index, self.tensor_transform(img), label, size=size)
        except BadImage as exc:
            return LoadedImage(index, None, label, str(exc))

    def _decoded(self, index: int) -> Image.Image:
        return load_source(self.sources[index], self.name(index), self.max_pixels, self.draft_size)


@dataclass
class ImageBatch:
    """The usable images of a batch stacked, and the unusable ones named."""

    indices: list[int]
    images: torch.Tensor | None
    labels: torch.Tensor | None
    bad: list[tuple[int, str]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    """(width, height) of each usable image, as decoded."""

    def __len__(self) -> int:
        """Usable images; `covered` also counts the bad ones."""
        return len(self.indices)

    @property
    def covered(self) -> int:
        return len(self.indices) + len(self.bad)


def collate(items: Sequence[LoadedImage]) -> ImageBatch:
    """Stack the images that decoded (in order); keep (position, message) for those that did not."""
    items = list(items)
    good = [item for item in items if item.tensor is not None]
    labelled = bool(good) and good[0].label is not None
    return ImageBatch(
        indices=[item.index for item in good],
        images=torch.stack([item.tensor for item in good]) if good else None,
        labels=torch.tensor([item.label for item in good], dtype=torch.long) if labelled else None,
        bad=[(item.index, item.error or "unusable") for item in items if item.tensor is None],
        sizes=[item.size for item in good],
    )


def image_loader(
    images: ImageTensors,
    batch_size: int,
    workers: int = 0,
    *,
    shuffle: bool = False,
    seed: int = 0,
    prefetch: int = 2,
    collate_fn: Callable[[list], ImageBatch] = collate,
) -> DataLoader:
    """Batches of `images` (`ImageBatch`), decoded in `workers` processes (0: in this one).
    (A dataset whose items are not single `LoadedImage`s brings its own `collate_fn`.)

    The loader's generator is seeded with `seed`, which fixes the shuffling order and every
    worker's torch seed; `seed_worker` makes Python's and numpy's follow. An epoch is thus
    the same on every run with the same seed, however many workers decode it.
    """
    return DataLoader(
        images,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=seed_worker,
        prefetch_factor=prefetch if workers else None,
        pin_memory=torch.cuda.is_available(),
    )


def seed_worker(worker_id: int) -> None:
    """torch is already seeded per worker by the DataLoader; make Python and numpy follow."""
    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)
