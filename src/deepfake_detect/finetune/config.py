"""`FinetuneConfig`: everything a fine-tuning run does, validated before any work starts.

The settings only (`AugmentSpec` too; `augment.py` builds the transforms from it): importing
this module does not import torch, so the command line reads these defaults for its --help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..backbones import list_finetunable
from ..data.images import DEFAULT_MAX_PIXELS


class AugmentSpec(BaseModel):
    """Which augmentations are on; `enabled=False` turns them all off at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    crop: bool = True
    flip: bool = True
    blur_prob: float = Field(0.1, ge=0, le=1)
    blur_sigma: tuple[float, float] = (0.0, 3.0)
    jpeg_prob: float = Field(0.1, ge=0, le=1)
    jpeg_quality: tuple[int, int] = (30, 100)
    downscale_prob: float = Field(0.0, ge=0, le=1)
    downscale_factor: tuple[float, float] = (1.1, 2.0)
    align_jpeg_prob: float = Field(0.0, ge=0, le=1)
    align_jpeg_quality: tuple[int, int] = (70, 100)
    blend_prob: float = Field(0.0, ge=0, le=1)
    blend_max: float = Field(0.5, ge=0, le=1)
    rescale_prob: float = Field(0.0, ge=0, le=1)
    rescale_factor: tuple[float, float] = (0.75, 1.5)
    rotate_prob: float = Field(0.0, ge=0, le=1)
    rotate_degrees: float = Field(15.0, ge=0, le=180)
    color_jitter_prob: float = Field(0.0, ge=0, le=1)
    mask_prob: float = Field(0.0, ge=0, le=1)
    mask_max: float = Field(0.25, ge=0, le=1)
    grayscale_prob: float = Field(0.0, ge=0, le=1)
    denoise_real_prob: float = Field(0.0, ge=0, le=1)
    denoise_sigma: tuple[float, float] = (0.4, 1.0)

    @property
    def aligns(self) -> bool:
        """Whether any dual-alignment step is on (they need a (real, fake) call)."""
        return any((self.align_jpeg_prob, self.blend_prob, self.rescale_prob, self.rotate_prob,
                    self.color_jitter_prob, self.mask_prob, self.grayscale_prob, self.denoise_real_prob))

    @field_validator("downscale_factor")
    @classmethod
    def _shrinks(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(f"needs 1 <= low <= high (a region larger than the crop), not {list(value)}")
        return value


RESUME_FREE_KEYS = frozenset({"out", "test", "robustness", "workers", "data_root", "bootstrap", "target_fpr"})
"""Options that may change on --resume: they do not touch training."""


class FinetuneConfig(BaseModel):
    """Everything a fine-tuning run does. Defaults are the seed's recipe (a GPU budget)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    out: Path
    arch: str = "resnet50"
    weights: str = "pretrained"
    epochs: int = Field(80, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-5, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    image_size: int = Field(256, ge=16)
    preprocess: Literal["resize", "center_crop"] = "resize"
    test_size: float = Field(0.2, gt=0, lt=1)
    val_size: float = Field(0.1, gt=0, lt=1)
    seed: int = 0
    augment: AugmentSpec = AugmentSpec()
    paired: bool = Field(False, description="train on aligned pairs: a group's real and one of its fakes, "
                         "augmented alike, side by side in a batch (finetune/pairs.py)")
    early_stopping: int | None = Field(None, ge=1, description="patience in epochs")
    schedule: Literal["none", "cosine", "step"] = "none"
    test: list[str] = []
    robustness: bool = False
    max_per_class: int | None = Field(None, ge=1)
    workers: int | None = Field(None, ge=0)
    data_root: str | None = None
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1)
    bootstrap: int = Field(1000, ge=0)
    target_fpr: float = Field(0.05, gt=0, lt=1, description="the exported detector's threshold lets at most this "
                              "share of the validation reals score above it (as `train --target-fpr`)")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        if value not in list_finetunable():
            raise ValueError(f"unknown architecture '{value}'; choose from {', '.join(list_finetunable())}")
        return value

    @model_validator(mode="after")
    def _pairs_fit_a_batch(self) -> FinetuneConfig:
        if self.paired and self.batch_size < 2:
            raise ValueError("paired training needs a batch size of 2 or more (a batch holds whole pairs)")
        if self.augment.enabled and self.augment.aligns and not self.paired:
            raise ValueError("the dual-alignment augmentations (align_jpeg, blend, rescale, rotate, color_jitter, "
                             "mask, grayscale, denoise_real) need aligned pairs: add --paired")
        return self

    def training_view(self) -> dict[str, Any]:
        """The options an interrupted run must resume with unchanged."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in RESUME_FREE_KEYS}

    def decoding_workers(self) -> int:
        from ..runtime import default_workers

        return default_workers() if self.workers is None else self.workers
