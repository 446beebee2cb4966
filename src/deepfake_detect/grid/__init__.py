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

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "run": ["Grid", "run_grid"],
    "config": ["GridConfig", "load_config"],
})
