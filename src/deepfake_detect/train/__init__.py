"""Training a features detector (frozen backbone + reducer + classifier) into a detector folder.

`train_detector(TrainingPlan(...), output)` extracts (or reads cached) features, fits the
pipeline, calibrates it and picks the threshold on a validation split, and writes the folder
through `detector.folder`; `plan_from_grid(run_dir)` takes the grid's best method as the plan.
"""

from importlib import import_module

_EXPORTS = {
    "TrainingPlan": "fit",
    "plan_from_grid": "fit",
    "train_detector": "fit",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
