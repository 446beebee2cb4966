"""The `deepfake-detect` command line: one Typer app, one dispatcher, one exit-status rule.

Commands live in modules by what they work on (datasets, runs, detectors, fine-tuning); each
registers itself on the one `app` and returns an `ExitStatus`. `main` is the console script.
"""

from . import (  # noqa: F401  (register commands)
    data_commands, detector_commands, finetune_command, generalization_commands, grid_commands, provenance_commands,
)
from .app import app, main, run

__all__ = ["app", "main", "run"]
