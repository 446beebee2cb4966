"""The run folder: the name of every file a grid or fine-tuning run writes, and its writers.

    RUN_DIR/
      config.yaml        the exact config, reusable as is
      run.json           versions, seeds, timings, unreadable files, warnings
      cells.jsonl        the ledger: one finished cell per line (runs.ledger)
      scores/CELL.npz    labels and scores of one cell, for ROC curves
      results.csv        one row per cell (runs.schema.RESULT_COLUMNS)
      results.parquet    the same, typed
      report.html, report.md, figures/*.png
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime import atomic_write_bytes, atomic_write_text, json_safe
from .schema import NUMERIC, RESULT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

CONFIG_FILE = "config.yaml"
RUN_INFO_FILE = "run.json"
LEDGER_FILE = "cells.jsonl"
SCORES_DIR = "scores"
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
REPORT_HTML = "report.html"
REPORT_MARKDOWN = "report.md"
FIGURES_DIR = "figures"


def scores_path(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / SCORES_DIR / f"{cell_id}.npz"


def results_frame(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Rows (dicts or a frame) as a DataFrame with exactly the schema's columns, in order."""
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    frame = frame.reindex(columns=RESULT_COLUMNS)
    for column in [*NUMERIC, "level", "seed"]:  # null in JSON is NaN here, never an object column
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def write_results(run_dir: Path, rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> Path:
    """results.csv for people and spreadsheets, results.parquet for typed reloading.

    Both are replaced atomically, so a reader never sees half a table. Returns the CSV path.
    """
    frame = results_frame(rows)
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / RESULTS_CSV, frame.to_csv(index=False))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(run_dir / RESULTS_PARQUET, buffer.getvalue())
    return run_dir / RESULTS_CSV


def write_run_info(run_dir: Path, info: Mapping[str, Any]) -> Path:
    """run.json, strict JSON (NaN becomes null)."""
    return atomic_write_text(Path(run_dir) / RUN_INFO_FILE, json.dumps(json_safe(dict(info)), indent=2) + "\n")


def write_config_text(run_dir: Path, text: str) -> Path:
    """config.yaml: the exact settings of the run."""
    return atomic_write_text(Path(run_dir) / CONFIG_FILE, text)
