"""Where the heavy work runs: one `Engine` protocol (extract, predict, make-fakes), one registry.

`local` (this process, the default, no extra dependency) and `ray` (a Ray cluster, or a local
Ray instance; `pip install "deepfake-detect[ray]"`) give the same results: the same feature
cache keys and vectors, the same predictions, the same fakes folder. A command asks for
`get_engine(name, EngineOptions(...))` and calls it; it never branches on the name. Adding an
engine is one module with a class like `local.LocalEngine` plus its line in `ENGINES` below,
as Ray registers its joblib backend.

Importing this package does not import Ray; the Ray engine's jobs do, and say how to install it.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Engine, EngineOptions, ExtractJob, FakesJob
from .local import LocalEngine
from .ray import RayEngine

ENGINES: Registry[type] = Registry("engine")
ENGINES.add(LocalEngine.name, LocalEngine)
ENGINES.add(RayEngine.name, RayEngine)


def list_engines() -> list[str]:
    return ENGINES.names()


def get_engine(name: str, options: EngineOptions | None = None) -> Engine:
    """The engine registered as `name`, set up with `options`; an unknown name is one line."""
    return ENGINES[name](options or EngineOptions())


__all__ = ["ENGINES", "Engine", "EngineOptions", "ExtractJob", "FakesJob", "get_engine", "list_engines"]
