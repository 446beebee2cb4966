"""One exception hierarchy and one exit-status type for the whole tool.

Every error a user can fix derives from `UserError`: the command line prints it as one line
and exits with `ExitStatus.USAGE` (2). Anything else is a bug and keeps its traceback. Layers
raise these; only `cli` decides how they look.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """The process exit codes, the same rule for every command (see the README)."""

    OK = 0
    PARTIAL = 1
    """The command finished, but some inputs could not be used (each was named)."""
    USAGE = 2
    """Nothing useful could be done: a wrong argument, file, config or detector."""
    INTERRUPTED = 130
    """Ctrl-C: finished work is saved; the same command resumes."""


class DeepfakeDetectError(Exception):
    """Base of every error this package raises on purpose."""


class Interrupted(DeepfakeDetectError):
    """Ctrl-C, with a message saying what was saved and how to resume (exit 130)."""


class UserError(DeepfakeDetectError):
    """A problem the user can fix; printed as one line, exit code 2."""


class UnknownNameError(UserError):
    """A name that no registry knows (backbone, classifier, reducer, generator, ...)."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(f"unknown {kind} '{name}'; choose from: {', '.join(self.valid)}")


class ConfigError(UserError):
    """A config file that cannot be used."""


class DatasetError(UserError):
    """A dataset that cannot be used (missing, empty, one class, unreadable manifest)."""


class WeightsError(UserError):
    """Weights that cannot be had or do not fit."""


class DetectorError(UserError):
    """A detector folder that cannot be loaded: missing, tampered, foreign or invalid."""


class UntrustedModelError(DetectorError):
    """A model file holds types outside the trusted list; nothing from it was built."""


class OutputError(UserError):
    """An output file or folder that cannot be written."""


class FinetuneError(UserError):
    """Fine-tuning settings or a run folder that cannot be used."""


class BadImage(UserError):
    """One file that cannot be used as an image; the message names the file and the reason.

    Loops over many files catch it, warn and go on; a single image that fails at top level is
    a one-line user error like any other.
    """
