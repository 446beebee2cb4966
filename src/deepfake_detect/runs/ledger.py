"""The ledger of a run: finished cells on disk, so an interrupted run resumes where it stopped.

A cell's scores go to `scores/CELL.npz` first (atomically), then its results row is appended
to `cells.jsonl` as one line: the line is the commit point. A crash in the middle of a line
leaves a torn last line; opening the ledger cuts it off, so the next append starts on a fresh
line and the worst case is redoing that one cell.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..runtime import atomic_write_bytes, json_safe
from .folder import LEDGER_FILE, SCORES_DIR, results_frame, scores_path
from .schema import make_row

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd


def cell_id(fields: Mapping[str, Any]) -> str:
    """The id of a cell: a hash of everything that decides its result.

    The one scheme for every approach: JSON with sorted keys (non-JSON values by `str`),
    SHA-256, first 16 hex digits.
    """
    text = json.dumps(dict(fields), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Ledger:
    """`cells.jsonl` and `scores/` of one run folder."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LEDGER_FILE
        (self.run_dir / SCORES_DIR).mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, dict] = {}
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            log.warning(f"{self.path}: dropped a torn last line (a crash mid-write); that cell is redone")
            with self.path.open("r+b") as handle:
                handle.truncate(complete)
                handle.flush()
                os.fsync(handle.fileno())
        for number, line in enumerate(data[:complete].decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                self._rows[row["cell_id"]] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning(f"{self.path}:{number}: unreadable ledger line skipped; that cell is redone")

    def done(self) -> dict[str, dict]:
        """Finished cells: cell_id -> results row."""
        return self._rows

    def __contains__(self, cell_id: str) -> bool:
        return cell_id in self._rows

    def append(self, row: Mapping[str, Any], labels: np.ndarray, scores: np.ndarray) -> dict:
        """Record one finished cell: its scores file, then its ledger line. Returns the row."""
        row = make_row(row)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, y_true=np.asarray(labels).astype(np.int8), score=np.asarray(scores, dtype=np.float32))
        atomic_write_bytes(scores_path(self.run_dir, row["cell_id"]), buffer.getvalue())
        line = json.dumps(json_safe(row)) + "\n"
        with self.path.open("ab") as handle:
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        self._rows[row["cell_id"]] = row
        return row

    def table(self, cell_ids: Iterable[str]) -> pd.DataFrame:
        """The finished rows among `cell_ids` (in that order, each once) as a results frame."""
        return results_frame(self._rows[c] for c in dict.fromkeys(cell_ids) if c in self._rows)
