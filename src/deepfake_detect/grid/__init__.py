"""The experiment grid: datasets x transforms x backbones x reductions x classifiers, under
every protocol, into one results table.

Work is organised so nothing is done twice: features come from the cache (extracted once per
feature space), each reducer is fitted once per training set and shared by all classifiers,
and every finished cell goes to the run's ledger at once, so a restarted grid skips it.
Modules: `config` (the grid config, validated before any work), `plan` (cells and their ids),
`workers` (processes and jobs), `robustness`, `detectors` (saved detector folders in the grid),
`info` (run.json), `run` (the orchestration). Names are resolved on first use, so reading a
config imports neither torch nor scikit-learn.
"""

from importlib import import_module

_EXPORTS = {"Grid": "run", "run_grid": "run", "GridConfig": "config", "load_config": "config"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
