"""Tree-based classifiers. Trees split on one feature at a time, so they need no scaling."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sklearn is imported when a classifier is built, not when names are listed
    from sklearn.pipeline import Pipeline

from .registry import CLASSIFIER_STEP, register_classifier


@register_classifier()
def decision_tree() -> Pipeline:
    """A single fully grown tree (sklearn defaults, random_state=0).

    A weak baseline on dense embeddings, kept because it shows how much the ensembles add.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    return Pipeline([(CLASSIFIER_STEP, DecisionTreeClassifier(random_state=0))])


@register_classifier()
def random_forest() -> Pipeline:
    """100 trees on random feature subsets (sklearn defaults, random_state=0, n_jobs=1)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline([(CLASSIFIER_STEP, RandomForestClassifier(random_state=0, n_jobs=1))])


@register_classifier()
def bagging() -> Pipeline:
    """10 decision trees on bootstrap samples (sklearn defaults, random_state=0, n_jobs=1).

    The tree is named explicitly so that its parameters can be overridden, e.g.
    `create_classifier("bagging", estimator__max_depth=8)`.

    Unlike a random forest every split sees every feature, so it is slower per tree on
    wide embeddings; the default 10 trees keep it practical.
    """
    from sklearn.ensemble import BaggingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    classifier = BaggingClassifier(estimator=DecisionTreeClassifier(), random_state=0, n_jobs=1)
    return Pipeline([(CLASSIFIER_STEP, classifier)])


@register_classifier()
def gradient_boosting() -> Pipeline:
    """Histogram gradient boosting (sklearn defaults: 100 iterations, lr 0.1, early
    stopping above 10,000 samples; random_state=0).

    The practical boosting choice: features are binned once, so it stays fast on
    thousands of samples by a thousand dimensions. It threads through OpenMP, which has
    no n_jobs; cap it with threadpoolctl or OMP_NUM_THREADS when running cells in parallel.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline([(CLASSIFIER_STEP, HistGradientBoostingClassifier(random_state=0))])


@register_classifier()
def gradient_boosting_classic() -> Pipeline:
    """Exact gradient boosting (100 trees of depth 3, lr 0.1, random_state=0), with
    max_features="sqrt".

    Every split of the exact algorithm scans every feature's sorted values, which costs
    about a minute for 1,500 x 1,280 features; drawing sqrt(n_features) candidates per
    split is some 40x faster for a small loss. Pass max_features=None for the textbook
    algorithm, e.g. after a PCA reduction.
    """
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    classifier = GradientBoostingClassifier(max_features="sqrt", random_state=0)
    return Pipeline([(CLASSIFIER_STEP, classifier)])
