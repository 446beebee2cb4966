"""The experiment grid: datasets x transforms x backbones x reductions x classifiers, under
every protocol, into one results table.

Work is organised so nothing is done twice: features come from the cache (extracted once per
feature space), each reducer is fitted once per training set and shared by all classifiers,
and every finished cell goes to the run's ledger at once, so a restarted grid skips it.
Modules: `plan` (cells and their ids), `workers` (processes and jobs), `robustness`,
`info` (run.json), `run` (the orchestration).
"""

from .run import Grid, run_grid

__all__ = ["Grid", "run_grid"]
