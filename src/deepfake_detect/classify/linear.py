"""Linear classifiers other than the linear SVM (see svm.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sklearn is imported when a classifier is built, not when names are listed
    from sklearn.pipeline import Pipeline

from .registry import CLASSIFIER_STEP, register_classifier


@register_classifier()
def lda() -> Pipeline:
    """Linear discriminant analysis with solver="lsqr" and Ledoit-Wolf shrinkage
    (shrinkage="auto").

    Embeddings often have about as many dimensions as there are training images, where
    the plain within-class covariance is singular or badly conditioned; shrinkage keeps
    it invertible and the estimate stable. LDA is invariant to feature scaling, so no
    scaler.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import Pipeline

    classifier = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
    return Pipeline([(CLASSIFIER_STEP, classifier)])


@register_classifier(search_grid={"C": (0.01, 0.1, 1.0, 10.0)})
def linear_probe() -> Pipeline:
    """Logistic regression on standardised features (C=1.0, lbfgs, max_iter=1000,
    random_state=0); search=True picks C from 0.01, 0.1, 1, 10.

    UniversalFakeDetect's linear probe: a frozen foundation-model embedding with a
    single logistic layer on top. Standardising makes one C mean the same on every
    backbone; max_iter is raised because lbfgs needs more than the default 100
    iterations on 1,000-dimensional embeddings.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = LogisticRegression(C=1.0, max_iter=1000, random_state=0)
    return Pipeline([("scale", StandardScaler()), (CLASSIFIER_STEP, classifier)])
