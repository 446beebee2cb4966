"""Classifiers: `create_classifier(name, **params)` and `fake_scores(estimator, X)`. One file
per family; importing this package registers them all. A new classifier is a decorated
factory in a family file (then run tests/test_classify.py, which covers it automatically
and tells you if TRUSTED_TYPES needs a new entry)."""

from . import bayes, linear, neighbors, svm, trees  # noqa: F401  (registration)
from .registry import (
    ClassifierInfo,
    classifier_info,
    create_classifier,
    fake_scores,
    list_classifiers,
    register_classifier,
)
from .serialization import (
    TRUSTED_TYPES,
    UntrustedModelError,
    dump_estimator,
    load_estimator,
)

__all__ = [
    "TRUSTED_TYPES",
    "ClassifierInfo",
    "UntrustedModelError",
    "classifier_info",
    "create_classifier",
    "dump_estimator",
    "fake_scores",
    "list_classifiers",
    "load_estimator",
    "register_classifier",
]
