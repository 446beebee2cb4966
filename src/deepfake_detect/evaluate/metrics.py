"""Detection metrics from labels (0 real, 1 fake) and fake scores in [0, 1]."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from ..errors import DetectorError

RANKING_KEYS = ("ap", "auc", "auc_low", "auc_high", "best_accuracy", "tpr_at_5fpr", "eer")
"""Metrics that compare fakes with reals, hence undefined when one class is missing."""
TARGET_FPR = 0.05
CONFIDENCE = 0.95
_BOOTSTRAP_CELLS_PER_CHUNK = 4_000_000
"""Resamples are drawn in blocks of at most this many scores, bounding memory on big test sets."""


def compute_metrics(y_true, scores, threshold: float = 0.5, n_bootstrap: int = 1000, seed: int = 0) -> dict[str, float]:
    """Accuracy at `threshold`, per class and overall, plus threshold-free ranking metrics.

    A score above `threshold` means fake, matching `fake_scores`, where above 0.5 is the
    classifier's own decision. Ranking metrics (ap, auc and its interval, best_accuracy,
    tpr_at_5fpr, eer) are NaN when only one class is present; the per-class accuracy of
    an absent class is NaN too.

    - auc_low, auc_high: a 95% percentile bootstrap interval over `n_bootstrap`
      resamples of the test set (seeded; resamples holding one class are skipped).
    - best_accuracy: accuracy at the threshold that is best *on these very scores*. It is
      optimistic, an oracle choice no deployed detector gets; it separates "the features
      rank well" from "the threshold transfers to this test set".
    - tpr_at_5fpr: fakes caught when 5% of real images are flagged, read off the ROC
      curve by linear interpolation between its corners.
    - eer: the error rate where false positive and false negative rates are equal.
    """
    y_true, scores = _check_inputs(y_true, scores)
    is_fake = y_true == 1
    n_fake = int(is_fake.sum())
    n_real = len(y_true) - n_fake
    correct = (scores > threshold) == is_fake
    metrics = {
        "accuracy": float(correct.mean()) if len(correct) else float("nan"),
        "real_accuracy": float(correct[~is_fake].mean()) if n_real else float("nan"),
        "fake_accuracy": float(correct[is_fake].mean()) if n_fake else float("nan"),
    }
    if n_real and n_fake:
        metrics |= _ranking_metrics(y_true, scores, n_bootstrap, seed)
    else:
        metrics |= dict.fromkeys(RANKING_KEYS, float("nan"))
    return metrics | {"n_real": n_real, "n_fake": n_fake}


def _check_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if y_true.shape != scores.shape:
        raise ValueError(f"y_true has {len(y_true)} labels but scores has {len(scores)} values")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake); got {sorted(set(y_true.tolist()) - {0, 1})[:5]}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    return y_true.astype(np.int64), scores


def _ranking_metrics(y_true: np.ndarray, scores: np.ndarray, n_bootstrap: int, seed: int) -> dict[str, float]:
    fpr, tpr, _ = roc_curve(y_true, scores)
    n_fake = int(y_true.sum())
    n_real = len(y_true) - n_fake
    auc_low, auc_high = _bootstrap_auc_interval(y_true, scores, n_bootstrap, seed)
    return {
        "ap": float(average_precision_score(y_true, scores)),
        "auc": float(roc_auc_score(y_true, scores)),
        "auc_low": auc_low,
        "auc_high": auc_high,
        "best_accuracy": float(np.max(tpr * n_fake + (1 - fpr) * n_real) / len(y_true)),
        "tpr_at_5fpr": _tpr_at_fpr(fpr, tpr, TARGET_FPR),
        "eer": _equal_error_rate(fpr, tpr),
    }


def _tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Interpolate between the last corner at or below `target` and the first beyond it.

    Where the curve is vertical at exactly `target`, the top of that segment counts.
    """
    after = int(np.searchsorted(fpr, target, side="right"))
    before = after - 1
    if after == len(fpr) or fpr[before] == target:
        return float(tpr[before])
    fraction = (target - fpr[before]) / (fpr[after] - fpr[before])
    return float(tpr[before] + fraction * (tpr[after] - tpr[before]))


def _equal_error_rate(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Where the ROC curve crosses FNR = FPR, interpolated along the segment crossing it.

    FNR - FPR falls from 1 at the curve's start (0, 0) to -1 at its end (1, 1), so it
    crosses zero exactly once.
    """
    gap = (1 - tpr) - fpr
    after = int(np.argmax(gap <= 0))
    before = after - 1
    fraction = gap[before] / (gap[before] - gap[after])
    return float(fpr[before] + fraction * (fpr[after] - fpr[before]))


def _bootstrap_auc_interval(y_true: np.ndarray, scores: np.ndarray, n_bootstrap: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of AUC over `n_bootstrap` resamples, by `scipy.stats.bootstrap`.

    Reals and fakes are resampled apart (two samples, not paired), so every resample holds both
    classes and has an AUC, and the interval is conditional on the test set's class counts.
    The statistic is vectorized: once the scores are grouped by distinct value, a block of
    resamples costs two bincounts and a cumulative sum (no per-resample sort); `batch` bounds
    the memory a block takes on big test sets.
    """
    reals, fakes = scores[y_true == 0], scores[y_true == 1]
    if n_bootstrap < 1 or min(len(reals), len(fakes)) < 2:  # one image of a class: no interval to speak of
        return float("nan"), float("nan")
    from scipy.stats import bootstrap

    distinct = np.unique(scores)

    def auc(real_draws: np.ndarray, fake_draws: np.ndarray, axis: int = -1) -> np.ndarray:
        real_draws, fake_draws = np.moveaxis(real_draws, axis, -1), np.moveaxis(fake_draws, axis, -1)
        shape = real_draws.shape[:-1]
        counts = [_counts_per_group(np.searchsorted(distinct, draws.reshape(-1, draws.shape[-1])), len(distinct))
                  for draws in (real_draws, fake_draws)]
        return _grouped_auc(counts[1], counts[0]).reshape(shape)

    result = bootstrap((reals, fakes), auc, n_resamples=n_bootstrap, batch=max(1, _BOOTSTRAP_CELLS_PER_CHUNK // len(scores)),
                       vectorized=True, paired=False, confidence_level=CONFIDENCE, method="percentile",
                       random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _counts_per_group(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Row-wise counts of each score group: (rows, n) group indices -> (rows, n_groups)."""
    n_rows = len(groups)
    cells = (groups + n_groups * np.arange(n_rows)[:, None]).ravel()
    return np.bincount(cells, minlength=n_rows * n_groups).reshape(n_rows, n_groups)


def _grouped_auc(fakes: np.ndarray, reals: np.ndarray) -> np.ndarray:
    """Row-wise AUC from counts per score group (columns in increasing score); NaN for
    rows holding a single class."""
    reals_below = np.cumsum(reals, axis=1) - reals
    wins = (fakes * (reals_below + 0.5 * reals)).sum(axis=1)
    pairs = fakes.sum(axis=1) * reals.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def threshold_for_fpr(scores: np.ndarray, labels: np.ndarray, target_fpr: float) -> float:
    """The lowest threshold at which at most `target_fpr` of the real images score above it.

    Verdicts are "fake" when score > threshold, so a real image scoring exactly the
    threshold is not a false alarm. The lowest such threshold catches the most fakes.
    """
    reals = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(labels) == 0])
    if len(reals) == 0:
        raise DetectorError("cannot target a false-positive rate without real images in the validation split")
    allowed = int(np.floor(target_fpr * len(reals) + 1e-9))
    return float(reals[len(reals) - allowed - 1]) if allowed < len(reals) else 0.0


def threshold_rule(scores: np.ndarray, labels: np.ndarray, target_fpr: float | None) -> dict[str, Any]:
    if target_fpr is None:
        return {"rule": "default", "threshold": 0.5}
    threshold = threshold_for_fpr(scores, labels, target_fpr)
    reals = np.asarray(scores)[np.asarray(labels) == 0]
    return {
        "rule": "target_fpr",
        "target_fpr": target_fpr,
        "threshold": threshold,
        "validation_fpr": float(np.mean(reals > threshold)),
        "validation_reals": int(len(reals)),
        "note": "FPR resolution is 1/validation_reals; more real validation images give a finer threshold",
    }
