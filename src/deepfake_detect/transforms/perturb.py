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

    def effective_parameters(self) -> dict[str, object]:
        """The parameters that take effect for this transformation (seed, blur, jitter)."""
        params = self.model_dump()
        params.pop("name")
        if self.name == "none":
            params.pop("seed")
        if "blur" not in self.name:
            params.pop("blur_sigma")
        if "jitter" not in self.name:
            for k in JITTER_PARAMETERS:
                params.pop(k)
        return params

    def key(self) -> str:
        """What identifies its output in a cache: only the parameters that take effect."""
        if self.name == "none":
            return "none"
        return json.dumps({"name": self.name, **self.effective_parameters()}, sort_keys=True, separators=(",", ":"))

    def label(self) -> str:
        """The name plus the effective parameters that differ from the defaults, for tables:
        `blur`, `blur(sigma=1-3)`, `jitter(hue=0.2, seed=1)`."""
        defaults = TransformSpec(name=self.name).effective_parameters()
        changed = [
            f"{_LABEL_NAMES.get(k, k)}={_format(v)}"
            for k, v in self.effective_parameters().items()
            if v != defaults[k]
        ]
        return f"{self.name}({', '.join(changed)})" if changed else self.name


JITTER_PARAMETERS = ("brightness", "contrast", "saturation", "hue")
_LABEL_NAMES = {"blur_sigma": "sigma"}


def _format(value: object) -> str:
    if isinstance(value, tuple | list):
        return "-".join(_format(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _rng(spec: TransformSpec, image_id: str) -> np.random.Generator:
    return np.random.default_rng([spec.seed, int(image_id[:15], 16)])


def apply_transform(img: Image.Image, spec: TransformSpec, image_id: str) -> Image.Image:
    """`img` transformed by `spec`, the random draw seeded by (spec.seed, image id)."""
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
