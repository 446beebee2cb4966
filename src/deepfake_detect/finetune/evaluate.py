"""A fine-tuning run's evaluation: its exported detector on the held-out split, extra test
sets and degraded copies, through `scoring.cells` (the one scoring path: `Detector`).

Cells are recorded in the run's ledger as they finish, so an interrupted evaluation resumes
where it stopped; results.csv has the grid's columns, so the report shows both approaches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..data import Dataset, ImageRecord
from ..detector.detector import Detector
from ..scoring.cells import DetectorCell, TrainingFacts, evaluate_detector_cells
from ..runs import Ledger, write_results
from ..transforms.degrade import ROBUSTNESS_LEVELS, Degradation
from .config import FinetuneConfig
from .data import BadFileReporter
from .splits import Splits
from .state import TrainingState

log = logging.getLogger(__name__)


def plan_cells(
    train_name: str,
    held_out: Sequence[ImageRecord],
    cross_sets: Sequence[tuple[str, Sequence[ImageRecord]]],
    robustness: bool,
) -> list[DetectorCell]:
    """The held-out split, each extra test set, and (if asked) the held-out split degraded."""
    cells = [DetectorCell("within", train_name, held_out)]
    cells += [DetectorCell("cross", name, records) for name, records in cross_sets]
    if robustness:
        cells += [
            DetectorCell("robustness", train_name, held_out, Degradation(kind=kind, level=float(level)))
            for kind, levels in ROBUSTNESS_LEVELS.items()
            for level in levels
        ]
    return cells


def evaluate_run(config: FinetuneConfig, detector_dir: Path, splits: Splits, cross_sets: list[Dataset],
                 state: TrainingState) -> pd.DataFrame:
    """Score every cell not yet in the ledger; write and return the run's results table."""
    run_dir = Path(config.out)
    detector = Detector.load(detector_dir)
    cells = plan_cells(splits.dataset.name, splits.test, [(d.name, d.records) for d in cross_sets], config.robustness)
    facts = TrainingFacts(splits.dataset.name, config.seed, len(splits.train), state.fit_seconds())
    ledger = Ledger(run_dir)
    ids = evaluate_detector_cells(detector, cells, facts, ledger, config.bootstrap, config.batch_size,
                                  config.decoding_workers(), on_bad=BadFileReporter(log.warning).one)
    results = ledger.table(ids)
    write_results(run_dir, results)
    return results
