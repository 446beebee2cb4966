"""The built-in detector: a detector folder shipped inside the package.

`predict` and `serve` use it when no detector is named, and `Detector.load(BUILTIN_DETECTOR)`
loads it like any other folder (schema, format version and sha256 of every file checked).
What it was trained on and its measured AUC per test set are in its manifest
(`training_data`, `measured`) and in the README.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..errors import DetectorError
from .manifest import MANIFEST_FILE

BUILTIN_DETECTOR = Path(str(files("deepfake_detect.builtin_detectors") / "default"))
BUILTIN_MAX_BYTES = 6 * 2**20
"""The built-in detector lives in git and in every installation: a few MB at most (a rank ensemble
of three patch networks, each with its ONNX copy, is 5.3 MB)."""


def builtin_detector() -> Path:
    """The built-in detector's folder; `DetectorError` when this installation lacks it."""
    if not (BUILTIN_DETECTOR / MANIFEST_FILE).is_file():
        raise DetectorError(
            f"{BUILTIN_DETECTOR}: this installation has no built-in detector; name one with --detector DIR"
        )
    return BUILTIN_DETECTOR


BUILTIN_NAME = "builtin"
"""What a user types for the built-in detector wherever a detector folder is asked for."""


def detector_folder(argument: str | Path | None) -> Path | None:
    """A detector argument as a folder: `builtin` is the built-in detector (unless `./builtin` is
    itself a detector folder); None stays None (the caller's default)."""
    if argument is None:
        return None
    path = Path(argument)
    if str(argument) == BUILTIN_NAME and not (path / MANIFEST_FILE).is_file():
        return builtin_detector()
    return path
