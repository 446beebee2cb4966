"""The reducer registry: one decorated factory per feature reduction, as in timm.

A factory takes no arguments and returns an unfitted scikit-learn transformer with the
defaults we recommend; `create_reducer` applies a caller's overrides through `set_params`,
so every hyper-parameter stays visible to `get_params`, `clone` and grid searches.

The factories live here and import their family module (the estimator class, which needs
scikit-learn) when called: listing the names, as every features manifest's validation does,
then costs no scikit-learn, so a detector whose classic part runs as ONNX never imports it.
A new reduction is an estimator class in a family file and one decorated factory here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..classify.params import set_checked_params
from ..registry import Registry

if TYPE_CHECKING:  # the families import sklearn; this module alone does not
    from sklearn.base import TransformerMixin

    from .autoencoder import AutoencoderReducer
    from .pca import PCAReducer

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


@register_reducer
def pca() -> PCAReducer:
    """PCA keeping 99% of the variance (whiten=False, random_state=0).

    A variance fraction rather than a fixed count, so one default suits every backbone
    width; 99% rather than the textbook 95% because generator artefacts are faint and may
    live in low-variance directions that a harder cut would throw away.
    """
    from .pca import PCAReducer

    return PCAReducer()


@register_reducer
def autoencoder() -> AutoencoderReducer:
    """MLP autoencoder to 64 dimensions (hidden=128, max_epochs=100, lr=1e-3,
    batch_size=64, validation_fraction=0.1, patience=10, random_state=0, n_jobs=1).

    64 dimensions is enough for a classifier on top and small enough that the bottleneck
    really compresses the 512-1280-d features of common backbones. The sizes were picked
    on 2,000 x 1,280 synthetic features of low intrinsic dimension: 128 hidden units
    reached a lower validation loss than 256 at two thirds of the cost per epoch, and
    batches of 64 stopped in about half the epochs of batches of 256, at a lower loss.
    max_epochs caps the time on data whose loss keeps creeping down.
    """
    from .autoencoder import AutoencoderReducer

    return AutoencoderReducer()
