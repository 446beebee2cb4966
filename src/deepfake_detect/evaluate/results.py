"""Moved to `deepfake_detect.runs` (schema, folder): this shim keeps old imports working until
fine-tuning switches over; delete it then."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..runs.folder import write_results as _write_results
from ..runs.schema import METRIC_NAMES, RESULT_COLUMNS

__all__ = ["METRIC_NAMES", "RESULT_COLUMNS", "write_results"]


def write_results(table: pd.DataFrame, run_dir: Path) -> Path:
    """Old argument order; use `runs.folder.write_results(run_dir, rows)`."""
    return _write_results(run_dir, table)
