"""Preprocessing without torch: a decoded PIL image -> the network's float32 input array.

The same steps as `transforms.preprocess.build_preprocess` (bicubic resize to the input
size, or a centre crop zero-padded as torchvision pads; scale to [0, 1]; normalise), with the
resize done by Pillow. Pillow's antialiased bicubic is what torchvision imitates, but its
uint8 tensor kernel rounds differently (up to 2 levels on most images, more when one side
shrinks and the other grows), so both runtimes of a detector use this function: the torch
path wraps the array with `torch.from_numpy`, and the two see identical inputs by
construction. `PREPROCESS_VERSION` names it for cache keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..transforms.preprocess import Preprocessing

PREPROCESS_VERSION = "pil1"
ArrayTransform = Callable[[Image.Image], np.ndarray]


@dataclass(frozen=True)
class ArrayPreprocess:
    """PIL RGB image -> float32 array (3, size, size); a class so worker processes can receive it."""

    policy: str
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def of(cls, prep: Preprocessing) -> ArrayPreprocess:
        return cls(prep.policy, prep.size, tuple(prep.mean), tuple(prep.std))

    def __call__(self, img: Image.Image) -> np.ndarray:
        if self.policy == "resize":
            if img.size != (self.size, self.size):
                img = img.resize((self.size, self.size), Image.Resampling.BICUBIC)
            pixels = np.asarray(img)
        else:
            pixels = center_crop(np.asarray(img), self.size)
        array = pixels.transpose(2, 0, 1).astype(np.float32)  # (3, H, W), contiguous
        array /= np.float32(255)
        array -= np.asarray(self.mean, dtype=np.float32)[:, None, None]
        array /= np.asarray(self.std, dtype=np.float32)[:, None, None]
        return array


def center_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The central size x size pixels of an (H, W, C) array; a smaller side is zero-padded
    around the image first, with torchvision's offsets (so both crops pick the same pixels)."""
    height, width = pixels.shape[:2]
    if height < size or width < size:
        pad_h, pad_w = max(size - height, 0), max(size - width, 0)
        pixels = np.pad(pixels, ((pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2), (0, 0)))
        height, width = pixels.shape[:2]
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return pixels[top : top + size, left : left + size]
