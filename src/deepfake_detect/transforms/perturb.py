"""The seed's transformations: none, Gaussian blur, colour jitter, and both.

Each image's random draw is seeded by (run seed, image id), so the same image always gets the
same blur and jitter: features are reproducible and a cache entry stays valid.
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field

TransformName = Literal["none", "blur", "jitter", "blur+jitter"]
TRANSFORMS: tuple[str, ...] = ("none", "blur", "jitter", "blur+jitter")


class TransformSpec(BaseModel):
    """A transformation and its parameters; defaults follow common augmentation practice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: TransformName = "none"
    blur_sigma: tuple[float, float] = Field((0.1, 2.0), description="Gaussian sigma range, pixels")
    brightness: float = Field(0.4, ge=0, description="factor drawn from [1-b, 1+b]")
    contrast: float = Field(0.4, ge=0)
    saturation: float = Field(0.4, ge=0)
    hue: float = Field(0.1, ge=0, le=0.5)
    seed: int = 0
    degrade: Literal["none", "jpeg", "blur", "downscale"] = "none"
    """A robustness perturbation applied last (test images only): JPEG quality, blur sigma,
    or downscale factor given by `degrade_level`."""
    degrade_level: float = 0.0

    def degraded(self, kind: str, level: float) -> "TransformSpec":
        return self.model_copy(update={"degrade": kind, "degrade_level": float(level)})

    def key(self) -> str:
        """What identifies its output in a cache: only the parameters that take effect."""
        if self.name == "none" and self.degrade == "none":
            return "none"
        params = self.model_dump()
        if self.degrade == "none":
            params.pop("degrade")
            params.pop("degrade_level")
        if self.name == "none":
            params.pop("seed")
        if "blur" not in self.name:
            params.pop("blur_sigma")
        if "jitter" not in self.name:
            for k in ("brightness", "contrast", "saturation", "hue"):
                params.pop(k)
        return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _rng(spec: TransformSpec, image_id: str) -> np.random.Generator:
    return np.random.default_rng([spec.seed, int(image_id[:15], 16)])


def apply_transform(img: Image.Image, spec: TransformSpec, image_id: str) -> Image.Image:
    img = _transform(img, spec, image_id)
    if spec.degrade != "none":
        from .degrade import degrade

        img = degrade(img, spec.degrade, spec.degrade_level)
    return img


def _transform(img: Image.Image, spec: TransformSpec, image_id: str) -> Image.Image:
    if spec.name == "none":
        return img
    rng = _rng(spec, image_id)
    if "blur" in spec.name:
        sigma = float(rng.uniform(*spec.blur_sigma))
        img = img.filter(ImageFilter.GaussianBlur(radius=sigma))
    if "jitter" in spec.name:
        import torchvision.transforms.functional as TF

        img = TF.adjust_brightness(img, float(rng.uniform(1 - spec.brightness, 1 + spec.brightness)))
        img = TF.adjust_contrast(img, float(rng.uniform(1 - spec.contrast, 1 + spec.contrast)))
        img = TF.adjust_saturation(img, float(rng.uniform(1 - spec.saturation, 1 + spec.saturation)))
        img = TF.adjust_hue(img, float(rng.uniform(-spec.hue, spec.hue)))
    return img
