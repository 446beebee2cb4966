"""Where the work runs: `local` (this process, the default, no extra dependency) or `ray`
(a Ray cluster, or a local Ray instance; `pip install "deepfake-detect[ray]"`).

The Ray engine gives the same results as the local one (same feature-cache keys and
vectors, same predictions) from a fixed pool of actors that each load the model once:

    from deepfake_detect.engines import BackboneRecipe, extract_with_ray, predict_with_ray

Importing this package does not import Ray; the functions do, and say how to install it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..errors import UnknownNameError

if TYPE_CHECKING:
    from .extract import BackboneRecipe, extract_with_ray
    from .fakes import make_fakes_with_ray
    from .predict import ScoringJob, predict_with_ray, read_predictions

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")

__all__ = [
    "ENGINES", "Engine", "check_engine", "BackboneRecipe", "extract_with_ray", "ScoringJob", "predict_with_ray",
    "read_predictions", "make_fakes_with_ray",
]

_LAZY = {
    "BackboneRecipe": "extract", "extract_with_ray": "extract",
    "ScoringJob": "predict", "predict_with_ray": "predict", "read_predictions": "predict",
    "make_fakes_with_ray": "fakes",
}


def check_engine(name: str) -> Engine:
    """`name` if it is an engine, else a one-line `UnknownNameError`."""
    if name not in ENGINES:
        raise UnknownNameError("engine", name, ENGINES)
    return name  # type: ignore[return-value]


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
