"""Getting an image to a backbone's input size: resize it, or centre-crop without resizing.

Resizing resamples the pixels and smooths away the high-frequency traces generators leave,
which is why UniversalFakeDetect centre-crops; but a 32 px image cannot be cropped to 224,
so small images must be resized (consistently, bicubic). The policy is a choice the user
makes explicitly and every cache key and report records.

`Preprocessing.for_backbone(info, policy)` is the one place that turns a backbone and a
policy into everything the image pipeline needs (as torchvision binds transforms to
weights): the tensor transform, the JPEG draft size, and the key that identifies the result
in a feature cache. Extraction, fine-tuning and prediction all derive it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import numpy as np
from PIL import Image

from ..data.images import DECODE_VERSION
from ..errors import UnknownNameError

if TYPE_CHECKING:
    import torch

PreprocessPolicy = Literal["resize", "center_crop", "patches"]
PREPROCESS_POLICIES: tuple[str, ...] = get_args(PreprocessPolicy)
PATCH_COUNT = 5
"""Crops per image under `patches`: the four corners and the centre (torchvision's FiveCrop)."""
PREPROCESS_VERSION = "pil1+mirror"
"""Names the resampling below in cache keys: Pillow's antialiased bicubic (torchvision's
uint8 tensor kernel rounds differently, by up to 2 grey levels on most images and more when
one side shrinks while the other grows; features from it must not share a cache entry), and
the mirror padding of images smaller than the crop (`pad_to`)."""


class InputSpec(Protocol):
    """What preprocessing needs to know about a network (a `BackboneInfo` is one)."""

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class Preprocessing:
    """How decoded images become a network's input, and what identifies that choice.

    - `array_transform`: PIL RGB image -> normalised float32 array (3, size, size), without
      torch (ONNX Runtime's input); `tensor_transform`: the same numbers as a torch tensor.
    - `draft_size`: the size to ask the JPEG decoder for (DCT scaling, several times faster on
      photographs); only under `resize`, since crops must see the original pixels.
    - `key`: policy, size and decoder version, as recorded in feature-cache keys.

    Under `patches` an image gives `PATCH_COUNT` crops (5, 3, size, size) at native resolution
    and its features are the mean of the crops' vectors (`embed_crops`).
    """

    policy: PreprocessPolicy
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.policy not in PREPROCESS_POLICIES:
            raise UnknownNameError("preprocessing", str(self.policy), PREPROCESS_POLICIES)
        if self.size < 1:
            raise ValueError(f"input size must be positive, not {self.size}")

    @classmethod
    def for_backbone(
        cls, info: InputSpec, policy: PreprocessPolicy = "resize", size: int | None = None
    ) -> Preprocessing:
        """The preprocessing of `info`'s network under `policy` (optionally at another `size`,
        e.g. a fine-tuned network trained at a smaller input)."""
        return cls(policy, int(size or info.input_size), tuple(info.mean), tuple(info.std))

    @cached_property
    def array_transform(self) -> ArrayPreprocess:
        return ArrayPreprocess(self.policy, self.size, self.mean, self.std)

    @cached_property
    def tensor_transform(self) -> TensorPreprocess:
        return TensorPreprocess(self.array_transform)

    @property
    def draft_size(self) -> int | None:
        return self.size if self.policy == "resize" else None

    @property
    def key(self) -> str:
        """E.g. `resize:224+decode:exif1`: policy, size and the decoder's version, since
        features computed from differently decoded pixels must not share a cache entry.
        `patches` records its crop count and aggregation (`patches5mean:224+...`)."""
        policy = f"patches{PATCH_COUNT}mean" if self.policy == "patches" else self.policy
        return f"{policy}:{self.size}+decode:{DECODE_VERSION}+{PREPROCESS_VERSION}"


def build_preprocess(
    policy: PreprocessPolicy, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> TensorPreprocess:
    """PIL RGB image -> normalised float tensor (3, size, size); the primitive behind
    `Preprocessing.tensor_transform` (prefer that: it also gives the draft size and key)."""
    if policy not in PREPROCESS_POLICIES:
        raise UnknownNameError("preprocessing", str(policy), PREPROCESS_POLICIES)
    return TensorPreprocess(ArrayPreprocess(policy, size, tuple(mean), tuple(std)))


@dataclass(frozen=True)
class ArrayPreprocess:
    """PIL RGB image -> float32 array (3, size, size): bicubic resize to the input size (Pillow,
    antialiased), or a centre crop (mirror-padded where the image is smaller, see `pad_to`);
    scale to [0, 1]; normalise.
    Under `patches`: (PATCH_COUNT, 3, size, size), see `five_crops`.

    Torch-free, so a detector on ONNX Runtime never imports torch; the torch path wraps the
    same array (`TensorPreprocess`), so both runtimes see identical inputs by construction.
    A class rather than a closure, so DataLoader worker processes can receive it.
    """

    policy: str
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, img: Image.Image) -> np.ndarray:
        if self.policy == "resize":
            if img.size != (self.size, self.size):
                img = img.resize((self.size, self.size), Image.Resampling.BICUBIC)
            pixels = np.asarray(img)
        elif self.policy == "patches":
            pixels = five_crops(np.asarray(img), self.size)
        else:
            pixels = center_crop(np.asarray(img), self.size)
        array = np.moveaxis(pixels, -1, -3).astype(np.float32, order="C")  # (..., 3, H, W)
        array /= np.float32(255)
        array -= np.asarray(self.mean, dtype=np.float32)[:, None, None]
        array /= np.asarray(self.std, dtype=np.float32)[:, None, None]
        return array


@dataclass(frozen=True)
class TensorPreprocess:
    """`ArrayPreprocess` as a torch tensor (the torch runtime's and training's input)."""

    array_transform: Callable[[Image.Image], np.ndarray]

    def __call__(self, img: Image.Image) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.array_transform(img))


def five_crops(pixels: np.ndarray, size: int) -> np.ndarray:
    """(PATCH_COUNT, size, size, C): the four corner crops and the centre crop of an (H, W, C)
    array, never resampled. A side shorter than `size` is mirror-padded around the image first
    (as `center_crop` does), never resized up."""
    height, width = pixels.shape[:2]
    if height < size or width < size:
        pixels = pad_to(pixels, max(size, height), max(size, width))
        height, width = pixels.shape[:2]
    bottom, right = height - size, width - size
    corners = [pixels[top : top + size, left : left + size] for top in (0, bottom) for left in (0, right)]
    return np.stack([*corners, center_crop(pixels, size)])


def embed_crops(embed: Callable[[Any], np.ndarray], batch: Any) -> np.ndarray:
    """Vectors of a batch: `embed` as it is for (B, 3, H, W) images; for (B, N, 3, H, W) crops
    (the `patches` policy), `embed` on all B*N crops, then the mean of each image's N vectors.
    `batch` may be a torch tensor or a numpy array (ONNX Runtime)."""
    if batch.ndim == 4:
        return embed(batch)
    images, crops = batch.shape[:2]
    vectors = embed(batch.reshape(images * crops, *batch.shape[2:]))
    return vectors.reshape(images, crops, -1).mean(axis=1)


def center_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The central size x size pixels of an (H, W, C) array; a smaller side is mirror-padded
    around the image first (`pad_to`), with torchvision's offsets."""
    height, width = pixels.shape[:2]
    if height < size or width < size:
        pixels = pad_to(pixels, max(size, height), max(size, width))
        height, width = pixels.shape[:2]
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return pixels[top : top + size, left : left + size]


def pad_to(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """An (H, W, C) array padded around to (height, width) with mirror copies of itself
    (numpy's "symmetric": the edge pixel repeated, then the image reversed, as often as needed).

    Why not zeros: a 32 px CIFAKE image zero-padded into a 128 px crop is 94% black border,
    and a network trained on full crops reads the border's hard edges and flat zeros as
    evidence (the built-in detector scored CIFAKE at AUC 0.29, inverted). Mirror copies keep
    the image's own pixel and residual statistics everywhere in the crop; even offsets keep
    the 2x2 up-sampling grid of the copies in phase with the original's. Same for one short
    side (extreme aspect ratios). torchvision's offsets: the extra pixel goes after."""
    pad_h, pad_w = height - pixels.shape[0], width - pixels.shape[1]
    return np.pad(pixels, ((pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2), (0, 0)), mode="symmetric")
