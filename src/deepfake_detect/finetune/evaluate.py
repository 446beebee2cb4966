"""Scoring a fine-tuned network on test sets, and writing the grid's results table.

Rows use the grid's columns and protocols (within / cross / robustness), scores go to
RUN_DIR/scores/<cell_id>.npz, so `write_report` shows Approach 1 beside Approach 2 and the
two can be concatenated into one table.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..console import progress_bar
from ..data import ImageRecord
from ..evaluate.metrics import compute_metrics
from ..evaluate.results import METRIC_NAMES, RESULT_COLUMNS
from ..transforms.degrade import ROBUSTNESS_LEVELS
from .data import BadFileReporter, RecordImages, make_loader
from .network import fake_probability

def best_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last: cuDNN's tensor-core kernels on CUDA, and oneDNN's faster convolutions on the
    CPU too (EfficientNet-Lite0 trains ~1.3x faster on this project's 2-core CPU)."""
    return torch.channels_last


def autocast(device: torch.device):
    """Mixed precision on CUDA only: CPU bfloat16 is slower on most CPUs and changes results."""
    return torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()


def logits_of(network: nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    images = images.to(device, non_blocking=True, memory_format=memory_format(device))
    with autocast(device):
        return network(images).float()


@dataclass
class Predictions:
    y_true: np.ndarray
    scores: np.ndarray
    loss: float
    seconds: float


def predict(
    network: nn.Module,
    images: RecordImages,
    device: torch.device,
    batch_size: int,
    workers: int,
    report_bad: BadFileReporter,
    description: str | None = None,
) -> Predictions:
    """Fake probabilities and mean cross-entropy over the images that decode."""
    network.eval()
    labels, scores, loss_sum = [], [], 0.0
    started = time.perf_counter()
    bar = progress_bar(description, total=len(images)) if description else nullcontext(lambda n: None)
    with bar as advance, torch.inference_mode():
        for batch in make_loader(images, batch_size, workers, shuffle=False):
            report_bad(batch.bad)
            if batch.images is not None:
                logits = logits_of(network, batch.images, device)
                targets = batch.labels.to(device)
                loss_sum += float(F.cross_entropy(logits, targets, reduction="sum"))
                scores.append(fake_probability(logits).cpu().numpy())
                labels.append(batch.labels.numpy())
            advance(len(batch) + len(batch.bad))
    y_true = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    fake_scores = np.concatenate(scores).astype(np.float64) if scores else np.zeros(0)
    return Predictions(y_true, fake_scores, loss_sum / max(len(y_true), 1), time.perf_counter() - started)


@dataclass(frozen=True)
class EvalCell:
    """One evaluation: a test set, possibly degraded, under one protocol."""

    protocol: str
    test_dataset: str
    records: Sequence[ImageRecord]
    perturbation: str = "none"
    level: float = math.nan

    def degradation(self) -> tuple[str, float] | None:
        return None if self.perturbation == "none" else (self.perturbation, self.level)

    def label(self) -> str:
        return self.test_dataset + ("" if self.perturbation == "none" else f" {self.perturbation} {self.level:g}")


def plan_cells(
    train_name: str,
    held_out: Sequence[ImageRecord],
    cross_sets: Sequence[tuple[str, Sequence[ImageRecord]]],
    robustness: bool,
) -> list[EvalCell]:
    """The held-out split, each extra test set, and (if asked) the held-out split degraded."""
    cells = [EvalCell("within", train_name, held_out)]
    cells += [EvalCell("cross", name, records) for name, records in cross_sets]
    if robustness:
        cells += [
            EvalCell("robustness", train_name, held_out, kind, float(level))
            for kind, levels in ROBUSTNESS_LEVELS.items()
            for level in levels
        ]
    return cells


@dataclass(frozen=True)
class RunIdentity:
    """What every row of one run shares."""

    arch: str
    train_dataset: str
    seed: int
    fit_seconds: float
    n_train: int


def cell_id(identity: RunIdentity, cell: EvalCell) -> str:
    """Readable and unique within a run; safe as a file name."""
    parts = ["finetune", identity.arch, identity.train_dataset, cell.test_dataset, cell.perturbation]
    if cell.perturbation != "none":
        parts[-1] += f"{cell.level:g}"
    text = "__".join(parts) + f"__seed{identity.seed}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)


def result_row(identity: RunIdentity, cell: EvalCell, predictions: Predictions, metrics: dict) -> dict:
    return {
        "cell_id": cell_id(identity, cell),
        "approach": "finetune",
        "protocol": cell.protocol,
        "train_dataset": identity.train_dataset,
        "test_dataset": cell.test_dataset,
        "perturbation": cell.perturbation,
        "level": cell.level,
        "transform": "none",
        "backbone": identity.arch,
        "reduction": "none",
        "classifier": "finetune",
        "seed": identity.seed,
        **{name: metrics[name] for name in METRIC_NAMES},
        "fit_seconds": identity.fit_seconds,
        "predict_seconds": predictions.seconds,
        "n_train": identity.n_train,
        "n_test": len(predictions.y_true),
    }


def evaluate_cells(
    cells: Sequence[EvalCell],
    score_cell: Callable[[EvalCell], Predictions],
    identity: RunIdentity,
    run_dir: Path,
    bootstrap: int,
) -> pd.DataFrame:
    """Score every cell, save its per-image scores, and return the results table."""
    scores_dir = run_dir / "scores"
    scores_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for cell in cells:
        predictions = score_cell(cell)
        metrics = compute_metrics(predictions.y_true, predictions.scores, n_bootstrap=bootstrap, seed=identity.seed)
        row = result_row(identity, cell, predictions, metrics)
        np.savez(scores_dir / f"{row['cell_id']}.npz", y_true=predictions.y_true, score=predictions.scores)
        rows.append(row)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)
