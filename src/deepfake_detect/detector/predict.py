"""Batch prediction for the command line: which files to score, and rows written as they come.

Inputs are files, folders (searched recursively for image suffixes) and `.txt` lists of
paths. Rows are written and flushed batch by batch, so a 100,000-image run shows results
from the first second, can be piped into other tools, and holds only a few batches.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from rich.console import Console
from rich.text import Text

from ..data.images import is_image_path
from .detector import Detector, DetectorError, Prediction

FORMATS: tuple[str, ...] = ("table", "csv", "jsonl")
LIST_SUFFIX = ".txt"


@dataclass
class Inputs:
    paths: list[Path] = field(default_factory=list)
    empty_folders: list[Path] = field(default_factory=list)


def collect_inputs(arguments: Sequence[str | Path]) -> Inputs:
    """The image paths named by files, folders and `.txt` lists, in the order given.

    A folder contributes its image-suffixed files (recursively, sorted, hidden ones skipped);
    an explicitly named file is always kept, so that a non-image or a missing file gets an
    error row rather than vanishing.
    """
    inputs = Inputs()
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_file() and path.suffix.lower() == LIST_SUFFIX:
            for listed in read_path_list(path):
                _add(listed, inputs)
        else:
            _add(path, inputs)
    return inputs


def _add(path: Path, inputs: Inputs) -> None:
    if path.is_dir():
        found = list(walk_images(path))
        if not found:
            inputs.empty_folders.append(path)
        inputs.paths.extend(found)
    else:
        inputs.paths.append(path)


def read_path_list(list_file: Path) -> list[Path]:
    """One path per line; blank lines and `#` comments skipped; relative to the list's folder."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DetectorError(f"{list_file}: cannot read the list of paths ({exc})") from None
    base = list_file.parent
    paths = []
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            path = Path(entry).expanduser()
            paths.append(path if path.is_absolute() else base / path)
    return paths


def walk_images(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not name.startswith(".") and is_image_path(path):
                yield path


# --- output ---------------------------------------------------------------------------------


class RowWriter(Protocol):
    def write(self, result: Prediction) -> None: ...
    def flush(self) -> None: ...


class CsvWriter:
    def __init__(self, handle: IO[str]):
        self.handle = handle
        self.writer = csv.writer(handle)
        self.writer.writerow(["path", "probability", "verdict", "error"])

    def write(self, result: Prediction) -> None:
        probability = "" if result.probability is None else f"{result.probability:.6f}"
        self.writer.writerow([result.path, probability, result.verdict or "", result.error or ""])

    def flush(self) -> None:
        self.handle.flush()


class JsonlWriter:
    def __init__(self, handle: IO[str]):
        self.handle = handle

    def write(self, result: Prediction) -> None:
        row = {"path": result.path, "probability": result.probability, "verdict": result.verdict, "error": result.error}
        self.handle.write(json.dumps(row) + "\n")

    def flush(self) -> None:
        self.handle.flush()


class TableWriter:
    """Aligned, coloured lines printed as they come (a rich Table would wait for the end)."""

    VERDICT_STYLES = {"fake": "bold red", "real": "bold green", "error": "yellow"}

    def __init__(self, console: Console):
        self.console = console
        self.console.print(Text(f"{'fake prob.':>10}  {'verdict':<7}  path", style="bold"))

    def write(self, result: Prediction) -> None:
        line = Text()
        if result.error is None:
            line.append(f"{result.probability:>10.1%}  ")
            line.append(f"{result.verdict:<7}", style=self.VERDICT_STYLES[result.verdict])
            line.append(f"  {result.path}")
        else:
            line.append(f"{'-':>10}  ")
            line.append(f"{'error':<7}", style=self.VERDICT_STYLES["error"])
            line.append(f"  {result.path}  ")
            line.append(f"({result.error})", style=self.VERDICT_STYLES["error"])
        self.console.print(line, soft_wrap=True, highlight=False)

    def flush(self) -> None:
        self.console.file.flush()


def choose_format(requested: str | None, output: Path | None) -> str:
    """Explicit, else from the output file's suffix, else a table on a terminal and CSV in a pipe."""
    if requested:
        if requested not in FORMATS:
            raise DetectorError(f"--format must be one of {', '.join(FORMATS)}, not '{requested}'")
        return requested
    if output is not None:
        return "jsonl" if output.suffix.lower() in (".jsonl", ".json") else "table" if output.suffix == ".txt" else "csv"
    return "table" if sys.stdout.isatty() else "csv"


def make_writer(fmt: str, handle: IO[str] | None) -> RowWriter:
    """A writer to `handle`, or to stdout (looked up at each write, so progress bars can wrap it)."""
    if fmt == "table":
        console = Console(file=handle, color_system=None) if handle else Console(highlight=False)
        return TableWriter(console)
    stream = handle if handle is not None else _Stdout()
    return CsvWriter(stream) if fmt == "csv" else JsonlWriter(stream)


class _Stdout:
    """sys.stdout as it is at each call: rich's live progress display swaps it for a proxy."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Summary:
    real: int = 0
    fake: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.real + self.fake + self.failed

    def add(self, result: Prediction) -> None:
        if result.error is not None:
            self.failed += 1
        elif result.verdict == "fake":
            self.fake += 1
        else:
            self.real += 1

    def line(self) -> str:
        images = "image" if self.total == 1 else "images"
        return f"{self.total} {images}: {self.real} real, {self.fake} fake, {self.failed} unreadable"


def run_prediction(
    detector: Detector,
    paths: Sequence[Path],
    writer: RowWriter,
    batch_size: int = 32,
    workers: int = 0,
    max_pixels: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> Summary:
    """Score `paths`, writing each row as soon as its batch is done."""
    summary = Summary()
    pending = 0
    for result in detector.predict_paths(paths, batch_size=batch_size, workers=workers, max_pixels=max_pixels):
        writer.write(result)
        summary.add(result)
        pending += 1
        if pending == batch_size or summary.total == len(paths):
            writer.flush()
            if advance:
                advance(pending)
            pending = 0
    return summary
