"""Getting an image to a backbone's input size: resize it, or centre-crop without resizing.

Resizing resamples the pixels and smooths away the high-frequency traces generators leave,
which is why UniversalFakeDetect centre-crops; but a 32 px image cannot be cropped to 224,
so small images must be resized (consistently, bicubic). The policy is a choice the user
makes explicitly and every cache key and report records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch
    from PIL import Image

PreprocessPolicy = Literal["resize", "center_crop"]
PREPROCESS_POLICIES: tuple[str, ...] = ("resize", "center_crop")


def build_preprocess(
    policy: PreprocessPolicy, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image -> normalised float tensor (3, size, size).

    Centre crop pads images smaller than `size` with zeros (as torchvision does) rather than
    resampling them.
    """
    import torch
    import torchvision.transforms.v2 as T

    if policy == "resize":
        geometry = T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC, antialias=True)
    elif policy == "center_crop":
        geometry = T.CenterCrop(size)
    else:
        raise ValueError(f"unknown preprocessing '{policy}'; choose from {', '.join(PREPROCESS_POLICIES)}")
    return T.Compose(
        [T.PILToTensor(), geometry, T.ToDtype(torch.float32, scale=True), T.Normalize(list(mean), list(std))]
    )
