"""Feature reductions: `create_reducer(name, **params)`. One file per family; importing this
package registers them all. A new reduction is a decorated factory in a family file."""

from . import autoencoder, pca  # noqa: F401  (registration)
from .autoencoder import AutoencoderReducer
from .pca import PCAReducer
from .registry import create_reducer, list_reducers, register_reducer

__all__ = ["AutoencoderReducer", "PCAReducer", "create_reducer", "list_reducers", "register_reducer"]
