"""Test-time degradations for the robustness protocol: JPEG re-encoding, blur, downscaling.

These are what images suffer on their way through the web (UniversalFakeDetect, SIDBench),
and what makes detectors that rely on faint high-frequency traces fail. Both approaches
(fine-tuned networks and the feature grid) degrade test images with this one module, so
their robustness curves are comparable.

A `Degradation` is its own value, apart from the training transformations (`TransformSpec`):
it is what a *test* image suffers, so a training transform can never carry one.
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, model_validator

from ..errors import UnknownNameError

DegradeKind = Literal["jpeg", "blur", "downscale"]

ROBUSTNESS_LEVELS: dict[str, list[float]] = {
    "jpeg": [100, 90, 75, 60, 45, 30],
    "blur": [0, 1, 2, 3, 4],
    "downscale": [1.0, 0.75, 0.5],
}
"""Severity grows along each list: JPEG quality, Gaussian sigma (pixels), scale factor."""


class Degradation(BaseModel):
    """One degradation at one level: JPEG quality 1..100, blur sigma >= 0 (pixels), or a
    downscale factor in (0, 1]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DegradeKind
    level: float

    @model_validator(mode="after")
    def _level_in_range(self) -> Degradation:
        kind, level = self.kind, self.level
        if kind == "jpeg" and not (1 <= level <= 100 and level == int(level)):
            raise ValueError(f"JPEG quality must be an integer in 1..100, not {level:g}")
        if kind == "blur" and not level >= 0:
            raise ValueError(f"blur sigma must be >= 0, not {level:g}")
        if kind == "downscale" and not 0 < level <= 1:
            raise ValueError(f"downscale factor must be in (0, 1], not {level:g}")
        return self

    @property
    def is_identity(self) -> bool:
        """Blur 0 and downscale 1 leave pixels as they are (JPEG 100 does not: it re-encodes)."""
        return (self.kind, self.level) in {("blur", 0), ("downscale", 1)}

    def key(self) -> str:
        """Short and stable, e.g. `jpeg:75`: what identifies degraded features in a cache."""
        return f"{self.kind}:{self.level:g}"

    def label(self) -> str:
        """For tables and logs, e.g. `jpeg 75`."""
        return f"{self.kind} {self.level:g}"

    def apply(self, img: Image.Image) -> Image.Image:
        return degrade(img, self.kind, self.level)

    def __call__(self, img: Image.Image, index: int = 0) -> Image.Image:
        """An `ImageTransform` for data.loader.ImageTensors: the position is not needed."""
        return self.apply(img)


def degrade(img: Image.Image, kind: DegradeKind, level: float) -> Image.Image:
    """`img` after one degradation; blur 0 and downscale 1 return it unchanged.

    JPEG quality 100 is *not* the identity: re-encoding still quantises chroma and DCT
    coefficients, which is exactly what a detector of pixel traces may notice.
    """
    if kind == "jpeg":
        return jpeg_reencode(img, int(level))
    if kind == "blur":
        return gaussian_blur(img, float(level))
    if kind == "downscale":
        return downscale(img, float(level))
    raise UnknownNameError("degradation", str(kind), list(ROBUSTNESS_LEVELS))


def jpeg_reencode(img: Image.Image, quality: int) -> Image.Image:
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, not {quality}")
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def gaussian_blur(img: Image.Image, sigma: float) -> Image.Image:
    """PIL's GaussianBlur takes the standard deviation as its `radius`."""
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0, not {sigma}")
    return img if sigma == 0 else img.filter(ImageFilter.GaussianBlur(radius=sigma))


def downscale(img: Image.Image, factor: float) -> Image.Image:
    """Shrink by `factor` (bicubic); the model's preprocessing later brings it back to its input size."""
    if not 0 < factor <= 1:
        raise ValueError(f"downscale factor must be in (0, 1], not {factor}")
    if factor == 1:
        return img
    width, height = img.size
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return img.resize(size, Image.Resampling.BICUBIC)
