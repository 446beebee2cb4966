"""Metrics on hand-made scores whose right answers are known."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from deepfake_detect.evaluate.metrics import RANKING_KEYS, compute_metrics
from deepfake_detect.runs.schema import METRICS

KEYS = [metric.name for metric in METRICS]  # the results schema's metrics, in its order
RANKING = list(RANKING_KEYS)


def noisy_scores(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping classes with tied scores, as a real detector's rounded outputs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 2)


def test_perfect_scores():
    metrics = compute_metrics([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert list(metrics) == KEYS
    assert metrics | {"n_real": 3, "n_fake": 2} == {
        "accuracy": 1.0, "real_accuracy": 1.0, "fake_accuracy": 1.0, "ap": 1.0, "auc": 1.0,
        "auc_low": 1.0, "auc_high": 1.0, "best_accuracy": 1.0, "tpr_at_5fpr": 1.0, "eer": 0.0,
        "n_real": 3, "n_fake": 2,
    }  # fmt: skip


def test_reversed_scores():
    metrics = compute_metrics([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])
    assert metrics["auc"] == 0.0 and metrics["eer"] == 1.0 and metrics["tpr_at_5fpr"] == 0.0
    assert metrics["accuracy"] == 0.0 and metrics["real_accuracy"] == 0.0 and metrics["fake_accuracy"] == 0.0
    assert metrics["best_accuracy"] == 0.5  # calling everything one class


def test_threshold_and_per_class_accuracy():
    y = [0, 0, 0, 0, 1, 1]
    scores = [0.1, 0.5, 0.6, 0.2, 0.7, 0.4]  # a score equal to the threshold counts as real
    metrics = compute_metrics(y, scores)
    assert metrics["real_accuracy"] == 0.75 and metrics["fake_accuracy"] == 0.5
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert compute_metrics(y, scores, threshold=0.3)["fake_accuracy"] == 1.0


def test_small_case_against_sklearn_and_by_hand():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.6]
    metrics = compute_metrics(y, scores)
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, scores))
    assert metrics["ap"] == pytest.approx(average_precision_score(y, scores))
    # ROC corners: (0, 0) (0, .25) (.25, .25) (.25, .75) (.75, .75) (.75, 1) (1, 1); AUC 11/16
    assert metrics["tpr_at_5fpr"] == pytest.approx(0.25)
    assert metrics["eer"] == pytest.approx(0.25)
    assert metrics["best_accuracy"] == pytest.approx(0.75)
    assert metrics["n_real"] == 4 and metrics["n_fake"] == 4


def test_tpr_at_5fpr_reads_the_roc_curve_between_and_at_corners():
    fakes = np.r_[np.full(5, 0.9), np.full(5, 0.6)]
    ten_reals, twenty_reals = np.r_[0.95, np.linspace(0, 0.4, 9)], np.r_[0.95, np.linspace(0, 0.4, 19)]
    # one real above every fake: corners (0, 0) (.1, 0) (.1, 1) (1, 1), flat at fpr .05
    assert compute_metrics(np.r_[np.zeros(10), np.ones(10)], np.r_[ten_reals, fakes])["tpr_at_5fpr"] == 0.0
    # that real between the two groups of fakes: corners (0, .5) (.1, .5) (.1, 1)
    ten_reals[0] = 0.7
    assert compute_metrics(np.r_[np.zeros(10), np.ones(10)], np.r_[ten_reals, fakes])["tpr_at_5fpr"] == 0.5
    # with 20 reals the curve is vertical at exactly fpr .05: its top counts
    y = np.r_[np.zeros(20), np.ones(10)]
    assert compute_metrics(y, np.r_[twenty_reals, fakes])["tpr_at_5fpr"] == 1.0
    # and a sloped segment interpolates: fpr .2 -> 0, tpr 0 -> .5 in one step of the reals
    y = np.r_[np.zeros(20), np.ones(10)]
    tied = np.r_[np.full(4, 0.95), np.linspace(0, 0.4, 16), np.full(5, 0.95), np.full(5, 0.6)]
    assert compute_metrics(y, tied)["tpr_at_5fpr"] == pytest.approx(0.125)


def test_bootstrap_interval_contains_the_auc_and_is_seeded():
    y, scores = noisy_scores()
    metrics = compute_metrics(y, scores)
    assert metrics["auc_low"] < metrics["auc"] < metrics["auc_high"]
    assert metrics["auc_high"] - metrics["auc_low"] < 0.1
    assert compute_metrics(y, scores) == metrics
    assert compute_metrics(y, scores, seed=1)["auc_low"] != metrics["auc_low"]


def test_bootstrap_of_a_large_test_set_works_in_bounded_blocks(monkeypatch):
    """More resamples than one block holds: the blocks together equal one big block."""
    import deepfake_detect.evaluate.metrics as metrics_module

    y, scores = noisy_scores()
    whole = compute_metrics(y, scores, n_bootstrap=200)
    monkeypatch.setattr(metrics_module, "_BOOTSTRAP_CELLS_PER_CHUNK", len(y) * 7)
    chunked = compute_metrics(y, scores, n_bootstrap=200)
    assert chunked["auc_low"] <= chunked["auc"] <= chunked["auc_high"]
    assert chunked["auc_low"] == pytest.approx(whole["auc_low"], abs=0.02)


def test_no_bootstrap_gives_nan_interval():
    metrics = compute_metrics([0, 1, 0, 1], [0.2, 0.8, 0.3, 0.7], n_bootstrap=0)
    assert math.isnan(metrics["auc_low"]) and math.isnan(metrics["auc_high"]) and metrics["auc"] == 1.0


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_gives_nan_ranking_metrics_quietly(label):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = compute_metrics([label] * 4, [0.1, 0.6, 0.7, 0.2])
    assert all(math.isnan(metrics[key]) for key in RANKING)
    assert metrics["accuracy"] == 0.5
    present, absent = ("real_accuracy", "fake_accuracy")[:: 1 if label == 0 else -1]
    assert metrics[present] == 0.5 and math.isnan(metrics[absent])


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="3 labels but scores has 2"):
        compute_metrics([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="labels must be 0"):
        compute_metrics([0, 2], [0.1, 0.2])
