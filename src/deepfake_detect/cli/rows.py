"""Rows of per-image results for `predict`: which files to score, and how rows are written.

Inputs are files, folders (searched recursively, each real directory once) and `.txt` lists
of paths. Rows are written and flushed batch by batch, so a 100,000-image run shows results
from the first second, can be piped into other tools, and holds only a few batches.

Every text field is written as UTF-8. A file name that is not valid UTF-8 (possible on Linux)
keeps its undecodable bytes as `\\xNN` escapes instead of crashing the run.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from rich.console import Console
from rich.text import Text

from ..data.images import is_image_path
from ..data.walk import walk_files
from ..errors import OutputError, UserError

FORMATS: tuple[str, ...] = ("table", "csv", "jsonl", "json")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "json", ".txt": "table"}
LIST_SUFFIX = ".txt"
COLUMNS = ("path", "probability", "verdict", "evidence", "error", "note")
"""CSV and table columns; JSON and JSONL add `combined` and the structured `provenance` findings."""


def printable(text: str | None) -> str | None:
    """Undecodable file-name bytes (surrogate escapes) become visible `\\xNN` escapes."""
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class Inputs:
    paths: list[Path] = field(default_factory=list)
    empty_folders: list[Path] = field(default_factory=list)


def collect_inputs(arguments: Sequence[str | Path]) -> Inputs:
    """The image paths named by files, folders and `.txt` lists, in the order given.

    A folder contributes its image-suffixed files; an explicitly named file is always kept,
    so that a non-image gets an error row rather than vanishing. A path given on the command
    line that does not exist is a usage error (exit 2, before any work); one missing from a
    `.txt` list gets an error row, since a long list should not stop at one stale line.
    """
    inputs = Inputs()
    missing = [str(a) for a in arguments if not Path(a).expanduser().exists()]
    if missing:
        raise UserError(f"{', '.join(missing)}: no such file or folder")
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
        found = [p for p in walk_files(path) if is_image_path(p)]
        if not found:
            inputs.empty_folders.append(path)
        inputs.paths.extend(found)
    else:
        inputs.paths.append(path)


def read_path_list(list_file: Path) -> list[Path]:
    """One path per line; blank lines and `#` comments skipped; relative to the list's folder."""
    try:
        lines = list_file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{list_file}: cannot read the list of paths ({exc}); save it as UTF-8") from None
    base = list_file.parent
    paths = []
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            path = Path(entry).expanduser()
            paths.append(path if path.is_absolute() else base / path)
    return paths


# --- output ---------------------------------------------------------------------------------


def row_of(result: Any) -> dict[str, Any]:
    return {
        "path": printable(result.path),
        "probability": result.probability,
        "verdict": result.verdict,
        "evidence": printable(getattr(result, "evidence", None)),
        "error": printable(result.error),
        "note": printable(getattr(result, "note", None)),
    }


def full_row_of(result: Any) -> dict[str, Any]:
    """The row with the structured findings, for JSON and JSONL."""
    return {**row_of(result), "combined": getattr(result, "combined", None),
            "provenance": getattr(result, "provenance", None)}


class RowWriter(Protocol):
    def write(self, result: Any) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class CsvWriter:
    def __init__(self, handle: IO[str]):
        self.handle = handle
        self.writer = csv.writer(handle)
        self.writer.writerow(COLUMNS)

    def write(self, result: Any) -> None:
        row = row_of(result)
        row["probability"] = "" if row["probability"] is None else f"{row['probability']:.6f}"
        self.writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.flush()


class JsonlWriter:
    def __init__(self, handle: IO[str]):
        self.handle = handle

    def write(self, result: Any) -> None:
        self.handle.write(json.dumps(full_row_of(result), ensure_ascii=False) + "\n")

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.flush()


class JsonWriter(JsonlWriter):
    """One JSON array, still streamed: `[`, rows separated by commas, `]` at close."""

    def __init__(self, handle: IO[str]):
        super().__init__(handle)
        self.rows = 0
        handle.write("[")

    def write(self, result: Any) -> None:
        self.handle.write(("," if self.rows else "") + "\n" + json.dumps(full_row_of(result), ensure_ascii=False))
        self.rows += 1

    def close(self) -> None:
        self.handle.write("\n]\n")
        self.flush()


class TableWriter:
    """Aligned, coloured lines printed as they come (a rich Table would wait for the end)."""

    VERDICT_STYLES = {
        "generated (declared)": "bold red", "edited with AI (declared)": "bold red", "likely generated": "red",
        "changed after signing": "bold magenta", "camera-signed capture": "bold green", "no evidence found": "cyan",
        "error": "yellow",
    }
    WIDTH = 25

    def __init__(self, console: Console):
        self.console = console
        self.console.print(Text(f"{'pixels':>7}  {'verdict':<{self.WIDTH}}  path  (evidence)", style="bold"))

    def write(self, result: Any) -> None:
        row = row_of(result)
        line = Text()
        probability = "-" if row["probability"] is None else f"{row['probability']:.1%}"
        line.append(f"{probability:>7}  ")
        if row["verdict"] is not None:
            line.append(f"{row['verdict']:<{self.WIDTH}}", style=self.VERDICT_STYLES.get(row["verdict"], ""))
            line.append(f"  {row['path']}")
            if row["evidence"]:
                line.append(f"  ({row['evidence']})", style="dim")
            if row["note"]:
                line.append(f"  ({row['note']})", style="yellow")
        else:
            line.append(f"{'error':<{self.WIDTH}}", style=self.VERDICT_STYLES["error"])
            line.append(f"  {row['path']}  ")
            line.append(f"({row['error']})", style=self.VERDICT_STYLES["error"])
        self.console.print(line, soft_wrap=True, highlight=False)

    def flush(self) -> None:
        self.console.file.flush()

    def close(self) -> None:
        self.flush()


def choose_format(requested: str | None, output: Path | None) -> str:
    """Explicit, else from the output file's suffix, else a table on a terminal and CSV in a pipe."""
    if requested:
        if requested not in FORMATS:
            raise UserError(f"--format must be one of {', '.join(FORMATS)}, not '{requested}'")
        return requested
    if output is not None:
        check_output_path(output)
        chosen = SUFFIX_FORMATS.get(output.suffix.lower())
        if chosen is None:
            raise UserError(
                f"{output}: cannot tell the format from the suffix '{output.suffix}'; "
                f"use {', '.join(SUFFIX_FORMATS)} or give --format"
            )
        return chosen
    return "table" if sys.stdout.isatty() else "csv"


def check_output_path(output: Path) -> None:
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; -o names the file to write, e.g. {output / 'scores.csv'}")


def open_output(output: Path) -> IO[str]:
    """The output file, opened for UTF-8 text; a folder or an unwritable place is one line."""
    check_output_path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        return output.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise OutputError(f"{output}: cannot write ({exc.strerror or exc})") from None


def make_writer(fmt: str, handle: IO[str] | None) -> RowWriter:
    """A writer to `handle`, or to stdout (looked up at each write, so progress bars can wrap it)."""
    if fmt == "table":
        console = Console(file=handle, color_system=None, width=10_000) if handle else Console(highlight=False)
        return TableWriter(console)
    stream = handle if handle is not None else _Stdout()
    return {"csv": CsvWriter, "jsonl": JsonlWriter, "json": JsonWriter}[fmt](stream)


class _Stdout:
    """sys.stdout as it is at each call: rich's live progress display swaps it for a proxy."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Summary:
    verdicts: Counter = field(default_factory=Counter)
    failed: int = 0
    flagged: int = 0

    @property
    def total(self) -> int:
        return sum(self.verdicts.values()) + self.failed

    def add(self, result: Any) -> None:
        if result.verdict is None:
            self.failed += 1
        else:
            self.verdicts[result.verdict] += 1
        if getattr(result, "note", None):
            self.flagged += 1

    def line(self) -> str:
        images = "image" if self.total == 1 else "images"
        counts = [f"{n} {verdict}" for verdict, n in self.verdicts.most_common()] + [f"{self.failed} unreadable"]
        flagged = f" ({self.flagged} flagged: see the note column)" if self.flagged else ""
        return f"{self.total} {images}: {', '.join(counts)}{flagged}"


def write_rows(
    results: Iterable[Any],
    total: int,
    writer: RowWriter,
    batch_size: int,
    advance: Callable[[int], None] | None = None,
    output_name: str = "stdout",
) -> Summary:
    """Write each result as it comes, flushing per batch; an output failure is one line."""
    summary = Summary()
    pending = 0
    try:
        for result in results:
            writer.write(result)
            summary.add(result)
            pending += 1
            if pending == batch_size or summary.total == total:
                writer.flush()
                if advance:
                    advance(pending)
                pending = 0
        writer.close()
    except OSError as exc:
        raise OutputError(f"{output_name}: cannot write ({exc.strerror or exc})") from None
    return summary
