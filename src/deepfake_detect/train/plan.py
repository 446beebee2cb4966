"""What a features detector is trained from: the settings only, one set of defaults.

Importing this module imports neither scikit-learn nor torch, so the command line reads these
defaults for `train --help` (and `predict` starts) without paying for them; `fit.py` does the work.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ..transforms import TransformSpec

Calibration = Literal["sigmoid", "isotonic"]
CALIBRATIONS: tuple[str, ...] = get_args(Calibration)


class TrainingPlan(BaseModel):
    """Everything that decides what detector comes out; recorded in its manifest. The defaults
    here are the only ones: `train`'s flags default to "not given" and show these in --help."""

    model_config = ConfigDict(extra="forbid")

    dataset: str | list[str]
    backbone: str = "efficientnet_lite0"
    weights: str = "pretrained"
    transform: TransformSpec = TransformSpec()
    preprocess: str = "resize"
    reduction: str = "none"
    reduction_params: dict[str, Any] = {}
    classifier: str = "linear_probe"
    classifier_params: dict[str, Any] = {}
    calibration: Calibration = "sigmoid"
    target_fpr: float | None = Field(None, gt=0, lt=1, description="threshold flagging at most this share of reals")
    validation_size: float = Field(0.2, gt=0, lt=1, description="held out for calibration and threshold")
    seed: int = 0
    dataset_name: str | None = None
    data_root: str | None = None
    max_per_class: int | None = Field(None, ge=1)
    cache: str | None = None
    origin: dict[str, Any] | None = None
    """Where the choice came from (a grid run), for the manifest."""
