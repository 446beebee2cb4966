"""Naive Bayes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sklearn is imported when a classifier is built, not when names are listed
    from sklearn.pipeline import Pipeline

from .registry import CLASSIFIER_STEP, register_classifier


@register_classifier()
def naive_bayes() -> Pipeline:
    """Gaussian naive Bayes (sklearn defaults: var_smoothing=1e-9).

    Assumes independent features, which embedding dimensions are not, so its
    probabilities are overconfident; it ranks reasonably and fits in one pass, a useful
    floor. Per-feature variances make it scale-invariant, so no scaler.
    """
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline

    return Pipeline([(CLASSIFIER_STEP, GaussianNB())])
