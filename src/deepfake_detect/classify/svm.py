"""Support vector machines, on standardised features (both kernels are scale-sensitive).

Neither asks for probability=True: that runs an internal 5-fold Platt calibration, five
extra fits, and its probabilities can disagree with `predict`. `fake_scores` takes a
sigmoid of the decision function instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sklearn is imported when a classifier is built, not when names are listed
    from sklearn.pipeline import Pipeline

from .registry import CLASSIFIER_STEP, register_classifier


@register_classifier(search_grid={"C": (0.1, 1.0, 10.0, 100.0)})
def svm_rbf() -> Pipeline:
    """RBF-kernel SVM (C=1.0, gamma="scale"); search=True picks C from 0.1, 1, 10, 100.

    gamma="scale" adapts the kernel width to the feature variance, which standardising
    fixes at 1 per feature, so the default is sensible on any backbone.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return Pipeline([("scale", StandardScaler()), (CLASSIFIER_STEP, SVC(kernel="rbf", C=1.0, gamma="scale"))])


@register_classifier(search_grid={"C": (0.001, 0.01, 0.1, 1.0)})
def svm_linear() -> Pipeline:
    """Linear SVM via liblinear (LinearSVC: squared hinge, C=1.0, dual="auto",
    max_iter=10000, random_state=0); search=True picks C from 0.001, 0.01, 0.1, 1.

    LinearSVC rather than SVC(kernel="linear"): it scales linearly with the number of
    samples instead of quadratically, at the price of a slightly different loss and a
    regularised intercept. max_iter is raised because the default often stops short of
    convergence on wide embeddings. The grid stops at C=1: with larger C liblinear took
    tens of seconds per fit on 2,000 x 768 features.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    classifier = LinearSVC(C=1.0, dual="auto", max_iter=10000, random_state=0)
    return Pipeline([("scale", StandardScaler()), (CLASSIFIER_STEP, classifier)])
