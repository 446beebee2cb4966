"""Checking an estimator's parameters before any work: the names it has and the types it takes.

Shared by the classifier and reducer registries, so a config typo (`C: "high"`, `bottlenek: 8`)
is one line naming the estimator before features are extracted, not a traceback hours later.
"""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator


def set_checked_params(kind: str, name: str, estimator: BaseEstimator, params: dict[str, Any], deep: bool = True) -> BaseEstimator:
    """`estimator.set_params(**params)` after checking names and types; ConfigError otherwise.

    Types are checked by scikit-learn's own parameter constraints where the estimator
    declares them, else against the type of each default (a number stays a number).
    """
    defaults = estimator.get_params(deep=deep)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "(none)"
        raise ConfigError(f"{kind} '{name}' has no parameter {', '.join(map(repr, unknown))}; valid: {valid}")
    for key, value in params.items():
        if not _same_kind(defaults[key], value):
            raise ConfigError(f"{kind} '{name}': parameter '{key}' must be like {defaults[key]!r}, got {value!r}")
    estimator.set_params(**params)
    if hasattr(estimator, "_parameter_constraints"):
        try:
            estimator._validate_params()  # scikit-learn's own check, the one fit() would run
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{kind} '{name}': {' '.join(str(exc).split())}") from None
    return estimator


def _same_kind(default: Any, value: Any) -> bool:
    """Whether `value` can stand where `default` stands (None and objects accept anything)."""
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, Real):
        return isinstance(value, Real) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str) or (isinstance(value, Real) and not isinstance(value, bool))
    return True
