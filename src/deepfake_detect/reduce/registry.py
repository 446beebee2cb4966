"""The reducer registry: one decorated factory per feature reduction, as in timm.

A factory takes no arguments and returns an unfitted scikit-learn transformer with the
defaults we recommend; `create_reducer` applies a caller's overrides through `set_params`,
so every hyper-parameter stays visible to `get_params`, `clone` and grid searches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..classify.params import set_checked_params
from ..registry import Registry

if TYPE_CHECKING:  # the families import sklearn; this module alone does not
    from sklearn.base import TransformerMixin

Factory = Callable[[], "TransformerMixin"]

_REGISTRY: Registry[Factory] = Registry("reducer")


def register_reducer(factory: Factory) -> Factory:
    """Register `factory` under its function name."""
    return _REGISTRY.register()(factory)


def list_reducers() -> list[str]:
    return _REGISTRY.names()


def create_reducer(name: str, **params) -> TransformerMixin:
    """An unfitted transformer; `params` override the registered defaults.

    An unknown name is an UnknownNameError; an unknown parameter or a value of the wrong
    type is a one-line ConfigError naming the valid ones, so a typo in a config file fails
    before hours of feature extraction, not silently.
    """
    factory = _REGISTRY[name]
    return set_checked_params("reducer", name, factory(), params, deep=False)


@register_reducer
def none() -> TransformerMixin:
    """The identity: the baseline every reduction must beat to earn its place."""
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer()
