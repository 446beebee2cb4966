"""Test-time degradations for the robustness protocol: JPEG re-encoding, blur, downscaling.

These are what images suffer on their way through the web (UniversalFakeDetect, SIDBench),
and what makes detectors that rely on faint high-frequency traces fail. Both approaches
(fine-tuned networks and the feature grid) degrade test images with this one function, so
their robustness curves are comparable.
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image, ImageFilter

DegradeKind = Literal["jpeg", "blur", "downscale"]

ROBUSTNESS_LEVELS: dict[str, list[float]] = {
    "jpeg": [100, 90, 75, 60, 45, 30],
    "blur": [0, 1, 2, 3, 4],
    "downscale": [1.0, 0.75, 0.5],
}
"""Severity grows along each list: JPEG quality, Gaussian sigma (pixels), scale factor."""


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
    raise ValueError(f"unknown degradation '{kind}'; choose from {', '.join(ROBUSTNESS_LEVELS)}")


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
