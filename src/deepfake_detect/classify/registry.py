"""The classifier registry: one decorated factory per classifier, as in timm.

A factory takes no arguments and returns an unfitted Pipeline: the scaling the classifier
needs, then the classifier as the step named "classifier". Caller overrides go to that
last step through `set_params`, so they stay visible to `get_params`, `clone` and grid
searches, and the scaling is never something a caller can forget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from ..registry import Registry
from .params import set_checked_params

if TYPE_CHECKING:  # sklearn is imported when a classifier is built: listing names stays instant
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

Factory = Callable[[], "Pipeline"]

CLASSIFIER_STEP = "classifier"
SEARCH_FOLDS = 3
SEARCH_SCORING = "roc_auc"
"""Threshold-free, so the search picks C for ranking quality rather than for one lucky cut."""


@dataclass(frozen=True)
class ClassifierInfo:
    name: str
    factory: Factory
    search_grid: dict[str, Sequence[float]] | None
    """Values tried by `search=True`, keyed by parameter of the final estimator."""


_REGISTRY: Registry[ClassifierInfo] = Registry("classifier")


def register_classifier(*, search_grid: dict[str, Sequence[float]] | None = None) -> Callable[[Factory], Factory]:
    """Register a factory under its function name; `search_grid` enables `search=True`."""

    return _REGISTRY.register(lambda name, factory: ClassifierInfo(name, factory, search_grid))


def list_classifiers() -> list[str]:
    return _REGISTRY.names()


def classifier_info(name: str) -> ClassifierInfo:
    return _REGISTRY[name]


def create_classifier(name: str, search: bool = False, **params) -> BaseEstimator:
    """An unfitted estimator: the registered Pipeline, with `params` set on its classifier.

    `search=True` wraps it in a 3-fold GridSearchCV over the registered grid (C, for the
    SVMs and the linear probe); the result still fits, predicts and scores like the
    Pipeline. An unknown name is an UnknownNameError; an unknown parameter, a value of the
    wrong type, or a searched parameter given explicitly is a one-line ConfigError, so a
    typo in a config fails before hours of feature extraction.
    """
    info = classifier_info(name)
    if not isinstance(search, bool):
        raise ConfigError(f"classifier '{name}': search must be true or false, got {search!r}")
    pipeline = info.factory()
    set_checked_params("classifier", name, pipeline[-1], params)
    return _grid_search(info, pipeline, params) if search else pipeline


def _grid_search(info: ClassifierInfo, pipeline: Pipeline, params: dict) -> GridSearchCV:
    if info.search_grid is None:
        searchable = [name for name in list_classifiers() if _REGISTRY[name].search_grid is not None]
        raise ConfigError(f"classifier '{info.name}' has no search grid; search=True works for: {', '.join(searchable)}")
    clashing = sorted(set(params) & set(info.search_grid))
    if clashing:
        raise ConfigError(f"classifier '{info.name}': search=True chooses {', '.join(clashing)}; do not also set it")
    from sklearn.model_selection import GridSearchCV

    grid = {f"{CLASSIFIER_STEP}__{key}": list(values) for key, values in info.search_grid.items()}
    return GridSearchCV(pipeline, grid, cv=SEARCH_FOLDS, scoring=SEARCH_SCORING, n_jobs=1)


def fake_scores(estimator: BaseEstimator, X) -> np.ndarray:
    """The probability-like score of class 1 (fake), in [0, 1].

    `predict_proba` where the estimator has it, else a sigmoid of `decision_function`
    (SVMs: Platt scaling with `probability=True` costs five extra fits and can disagree
    with `predict`). Either way a score above 0.5 is exactly the estimator's own "fake"
    decision, so one threshold fits every classifier. A sigmoid score is not calibrated.
    """
    fake_column = list(estimator.classes_).index(1)
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)[:, fake_column]
    from scipy.special import expit

    decision = np.asarray(estimator.decision_function(X), dtype=np.float64)
    return expit(decision) if fake_column == 1 else expit(-decision)
