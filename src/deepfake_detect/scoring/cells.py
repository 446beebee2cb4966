"""Evaluating a saved detector folder on test cells: the one way a fine-tuned network is scored.

A fine-tuning run (on its held-out split, extra test sets and degraded copies), the grid's
`finetuned:` entries (`grid.detectors`, on the grid's own splits), `calibrate` and `adapt` score through `Detector.predict_paths`,
exactly as `predict` and `serve` do, build rows with `runs.schema` and record each finished
cell in the run's `runs.Ledger`. A cell's id hashes what decides its result (the detector's
file digests, threshold and preprocessing, the test images, the degradation, seed and
bootstrap), so an interrupted evaluation resumes per cell and a re-exported identical
detector is not scored twice.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..progress import progress_bar
from ..data import ImageRecord
from ..evaluate.metrics import compute_metrics
from ..runs import Ledger, cell_id
from ..detector.detector import Detector
from ..transforms.degrade import Degradation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorCell:
    """One evaluation: test images, possibly degraded, under one protocol."""

    protocol: str
    test_dataset: str
    records: Sequence[ImageRecord]
    degradation: Degradation | None = None

    def label(self) -> str:
        return self.test_dataset + ("" if self.degradation is None else f" {self.degradation.label()}")


@dataclass(frozen=True)
class TrainingFacts:
    """What every row of one detector shares: where it was trained and what that cost."""

    train_dataset: str
    seed: int
    n_train: int
    fit_seconds: float = math.nan


@dataclass(frozen=True)
class Scored:
    """Labels and P(fake) of the images the detector could score, in input order."""

    y_true: np.ndarray
    scores: np.ndarray
    seconds: float


def score_records(
    detector: Detector,
    records: Sequence[ImageRecord],
    degradation: Degradation | None = None,
    batch_size: int = 32,
    workers: int = 0,
    description: str | None = None,
    on_bad: Callable[[str], None] = log.warning,
) -> Scored:
    """Score `records` through `Detector.predict_paths`; unusable images are named and left out."""
    started = time.perf_counter()
    labels, scores = [], []
    with progress_bar(description or "score", total=len(records)) as advance:
        predictions = detector.predict_paths([r.path for r in records], batch_size, workers, image_transform=degradation)
        for prediction in predictions:
            if prediction.ok:
                labels.append(records[prediction.index].label)
                scores.append(prediction.probability)
            else:
                on_bad(f"{prediction.path}: {prediction.error}")
            advance(1)
    return Scored(np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64), time.perf_counter() - started)


def detector_cell_id(detector: Detector, cell: DetectorCell, seed: int, bootstrap: int, label: str | None = None) -> str:
    paths = "\n".join(str(r.path) for r in cell.records).encode()
    return cell_id(({"label": label} if label else {}) | {
        "approach": detector.kind,
        "detector_files": detector.spec.files,
        "threshold": detector.threshold,
        "preprocess": detector.spec.preprocess.model_dump(mode="json"),
        "protocol": cell.protocol,
        "test_dataset": cell.test_dataset,
        "images": hashlib.sha256(paths).hexdigest(),
        "degradation": cell.degradation.key() if cell.degradation else "none",
        "seed": seed,
        "bootstrap": bootstrap,
    })


def detector_row(detector: Detector, cell: DetectorCell, facts: TrainingFacts, scored: Scored, bootstrap: int,
                 label: str | None = None) -> dict:
    """A results row (runs.schema columns) for one scored cell; `label` names the method in place
    of the network's name."""
    metrics = compute_metrics(scored.y_true, scored.scores, threshold=detector.threshold,
                              n_bootstrap=bootstrap, seed=facts.seed)
    return {
        "cell_id": detector_cell_id(detector, cell, facts.seed, bootstrap, label),
        "approach": detector.kind,
        "protocol": cell.protocol,
        "train_dataset": facts.train_dataset,
        "test_dataset": cell.test_dataset,
        "perturbation": cell.degradation.kind if cell.degradation else "none",
        "level": cell.degradation.level if cell.degradation else math.nan,
        "transform": "none",
        "backbone": label or detector.spec.backbone.name,
        "reduction": "none",
        "classifier": detector.kind,
        "seed": facts.seed,
        **metrics,
        "fit_seconds": facts.fit_seconds,
        "predict_seconds": scored.seconds,
        "n_train": facts.n_train,
        "n_test": int(len(scored.y_true)),
    }


def evaluate_detector_cells(
    detector: Detector,
    cells: Sequence[DetectorCell],
    facts: TrainingFacts,
    ledger: Ledger,
    bootstrap: int = 1000,
    batch_size: int = 32,
    workers: int = 0,
    on_bad: Callable[[str], None] = log.warning,
    label: str | None = None,
) -> list[str]:
    """Score every cell not yet in `ledger` and record it there; the cell ids, in order."""
    ids = []
    for cell in cells:
        cid = detector_cell_id(detector, cell, facts.seed, bootstrap, label)
        ids.append(cid)
        if cid in ledger:
            continue
        scored = score_records(detector, cell.records, cell.degradation, batch_size, workers,
                               f"{label or detector.spec.backbone.name} on {cell.label()}", on_bad)
        ledger.append(detector_row(detector, cell, facts, scored, bootstrap, label), scored.y_true, scored.scores)
    return ids
