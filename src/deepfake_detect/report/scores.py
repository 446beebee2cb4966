"""Per-image scores saved by the evaluation (RUN_DIR/scores/<cell_id>.npz) and ROC curves from them.

Score files are optional: cells without one, or with an unreadable one, are simply
skipped so a partial run still gets a report.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..runs.folder import SCORES_DIR, scores_path
from .tables import clean_rows, sort_by_metric



@dataclass(frozen=True)
class RocCurve:
    """One cell's ROC curve, labelled for a legend."""

    label: str
    false_positive_rate: np.ndarray
    true_positive_rate: np.ndarray
    auc: float


def available_score_ids(run_dir: Path) -> set[str]:
    """cell_ids that have a score file (one directory listing instead of a stat per cell)."""
    folder = Path(run_dir) / SCORES_DIR
    if not folder.is_dir():
        return set()
    return {path.stem for path in folder.glob("*.npz")}


def load_scores(run_dir: Path, cell_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(y_true, score) of one cell, or None when the file is missing, corrupt or one-class."""
    path = scores_path(run_dir, cell_id)
    try:
        with np.load(path, allow_pickle=False) as data:
            labels = np.asarray(data["y_true"]).astype(int).ravel()
            scores = np.asarray(data["score"], dtype=float).ravel()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    finite = np.isfinite(scores)
    labels, scores = labels[finite], scores[finite]
    if labels.size != scores.size or len(np.unique(labels)) < 2:
        return None
    return labels, scores


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False/true positive rates at every distinct threshold, and the area under them.

    Written with numpy (sort + cumulative sums) so the report does not need scikit-learn.
    """
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order] == 1
    threshold_ends = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    true_positives = np.cumsum(sorted_labels)[threshold_ends]
    false_positives = threshold_ends + 1 - true_positives
    tpr = np.r_[0.0, true_positives / true_positives[-1]]
    fpr = np.r_[0.0, false_positives / false_positives[-1]]
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoid rule
    return fpr, tpr, area


def best_roc_curves(table: pd.DataFrame, run_dir: Path, metric: str, protocol: str,
                    n: int = 5) -> list[RocCurve]:
    """ROC curves of the best `n` cells of a protocol that have score files, one per method.

    Cells are ranked by `metric` on clean images; for cross, only train != test counts.
    """
    available = available_score_ids(run_dir)
    rows = clean_rows(table, protocol)
    if protocol == "cross":
        rows = rows[rows["train_dataset"] != rows["test_dataset"]]
    rows = sort_by_metric(rows[rows["cell_id"].isin(available)], metric)
    curves: list[RocCurve] = []
    seen_methods: set[str] = set()
    for row in rows.itertuples(index=False):
        if len(curves) >= n:
            break
        if row.method in seen_methods:
            continue
        loaded = load_scores(run_dir, row.cell_id)
        if loaded is None:
            continue
        fpr, tpr, area = roc_curve(*loaded)
        seen_methods.add(row.method)
        curves.append(RocCurve(f"{row.method} [{pair_label(row.train_dataset, row.test_dataset)}]",
                               fpr, tpr, area))
    return curves


def pair_label(train: str, test: str) -> str:
    """"ds" when trained and tested on the same data, else "train→test"."""
    return train if train == test else f"{train}→{test}"
