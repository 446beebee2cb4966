"""Batches of preprocessed arrays, decoded in threads ahead of the network (no torch).

Once ONNX Runtime embeds ~180 images/s, decoding and resizing are the bottleneck: `workers`
threads decode whole batches (Pillow and numpy release the GIL) while the caller runs the
network on the batch before. Items are decoded by `data.images`, the one decoder, and a
file that cannot be used comes back as a message naming it, never as an exception (the
same contract as `data.loader.ImageTensors`, whose batches these mirror).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import DEFAULT_MAX_PIXELS, load_source
from ..errors import BadImage

ImageSource = str | Path | Image.Image
ImageTransform = Callable[[Image.Image, int], Image.Image]


@dataclass
class ArrayBatch:
    """The usable images of a batch stacked, the unusable ones named (like `data.loader.ImageBatch`)."""

    indices: list[int]
    images: np.ndarray | None
    bad: list[tuple[int, str]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class ArrayImages:
    """Item i -> (array, decoded size) or an error message naming the item."""

    sources: Sequence[ImageSource]
    transform: Callable[[Image.Image], np.ndarray]
    image_transform: ImageTransform | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    draft_size: int | None = None

    def name(self, index: int) -> str:
        source = self.sources[index]
        return f"<image {index}>" if isinstance(source, Image.Image) else str(source)

    def load(self, index: int) -> tuple[np.ndarray, tuple[int, int]] | str:
        try:
            img = self._decoded(index)
            size = img.size
            if self.image_transform is not None:
                img = self.image_transform(img, index)
            return self.transform(img), size
        except BadImage as exc:
            return str(exc)

    def _decoded(self, index: int) -> Image.Image:
        return load_source(self.sources[index], self.name(index), self.max_pixels, self.draft_size)

    def batch(self, indices: range) -> ArrayBatch:
        good, arrays, sizes, bad = [], [], [], []
        for index in indices:
            loaded = self.load(index)
            if isinstance(loaded, str):
                bad.append((index, loaded))
            else:
                good.append(index)
                arrays.append(loaded[0])
                sizes.append(loaded[1])
        return ArrayBatch(good, np.stack(arrays) if arrays else None, bad, sizes)


def prefetched_batches(images: ArrayImages, batch_size: int, workers: int = 2) -> Iterator[ArrayBatch]:
    """Batches in order; with `workers` > 0, that many threads decode the next batches while
    the caller works on this one (at most workers + 1 batches in memory)."""
    chunks = [range(start, min(start + batch_size, len(images.sources))) for start in range(0, len(images.sources), batch_size)]
    if workers <= 0:
        yield from (images.batch(chunk) for chunk in chunks)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="decode")
    pending: list[Future] = []
    upcoming = iter(chunks)
    try:
        for chunk in upcoming:
            pending.append(pool.submit(images.batch, chunk))
            if len(pending) > workers:
                break
        while pending:
            batch = pending.pop(0).result()
            chunk = next(upcoming, None)
            if chunk is not None:
                pending.append(pool.submit(images.batch, chunk))
            yield batch
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
