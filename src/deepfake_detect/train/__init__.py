"""Training a features detector (frozen backbone + reducer + classifier) into a detector folder.

`train_detector(TrainingPlan(...), output)` extracts (or reads cached) features, fits the
pipeline, calibrates it and picks the threshold on a validation split, and writes the folder
through `detector.folder`; `plan_from_grid(run_dir)` takes the grid's best method as the plan.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "plan": ["TrainingPlan"],
    "fit": ["plan_from_grid", "train_detector"],
})
