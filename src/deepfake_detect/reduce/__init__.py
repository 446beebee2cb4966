"""Feature reductions: `create_reducer(name, **params)`. One estimator class per family file,
one registered factory per reduction in `registry.py`; the estimator classes (and scikit-learn
under them) are imported when first used, not when the names are listed."""

import lazy_loader as lazy

from .registry import create_reducer, list_reducers, register_reducer

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "autoencoder": ["AutoencoderReducer"],
    "pca": ["PCAReducer"],
})
__all__ += ["create_reducer", "list_reducers", "register_reducer"]
