"""`FinetuneConfig`: everything a fine-tuning run does, validated before any work starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..backbones import list_finetunable
from .augment import AugmentSpec

RESUME_FREE_KEYS = frozenset({"out", "test", "robustness", "workers", "data_root", "bootstrap"})
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
    max_pixels: int = Field(50_000_000, ge=1)
    bootstrap: int = Field(1000, ge=0)

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
                             "mask, grayscale) need aligned pairs: add --paired")
        return self

    def training_view(self) -> dict[str, Any]:
        """The options an interrupted run must resume with unchanged."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in RESUME_FREE_KEYS}

    def decoding_workers(self) -> int:
        from ..runtime import default_workers

        return default_workers() if self.workers is None else self.workers
