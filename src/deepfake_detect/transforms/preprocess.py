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
from typing import TYPE_CHECKING, Literal, Protocol

from ..data.images import DECODE_VERSION
from ..errors import UnknownNameError

if TYPE_CHECKING:
    import torch
    from PIL import Image

PreprocessPolicy = Literal["resize", "center_crop"]
PREPROCESS_POLICIES: tuple[str, ...] = ("resize", "center_crop")


class InputSpec(Protocol):
    """What preprocessing needs to know about a network (a `BackboneInfo` is one)."""

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class Preprocessing:
    """How decoded images become a network's input, and what identifies that choice.

    - `tensor_transform`: PIL RGB image -> normalised float tensor (3, size, size).
    - `draft_size`: the size to ask the JPEG decoder for (DCT scaling, several times faster on
      photographs); only under `resize`, since a centre crop must see the original pixels.
    - `key`: policy, size and decoder version, as recorded in feature-cache keys.
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
    def tensor_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        return build_preprocess(self.policy, self.size, self.mean, self.std)

    @property
    def draft_size(self) -> int | None:
        return self.size if self.policy == "resize" else None

    @property
    def key(self) -> str:
        """E.g. `resize:224+decode:exif1`: policy, size and the decoder's version, since
        features computed from differently decoded pixels must not share a cache entry."""
        return f"{self.policy}:{self.size}+decode:{DECODE_VERSION}"


def build_preprocess(
    policy: PreprocessPolicy, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image -> normalised float tensor (3, size, size); the primitive behind
    `Preprocessing.tensor_transform` (prefer that: it also gives the draft size and key).

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
        raise UnknownNameError("preprocessing", str(policy), PREPROCESS_POLICIES)
    return T.Compose(
        [T.PILToTensor(), geometry, T.ToDtype(torch.float32, scale=True), T.Normalize(list(mean), list(std))]
    )
