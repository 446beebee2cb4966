"""The grid's `finetuned:` and `reference:` entries: saved detector folders scored on the grid's
own test sets (within split of the set they were trained on, every other set whole), into the
same ledger as the grid's cells, through `scoring.cells` (the one scoring path: `Detector`).
"""

from __future__ import annotations

from pathlib import Path

from ..data import Dataset
from ..detector.detector import Detector
from ..evaluate.splits import split_by_id
from ..runs import Ledger
from ..scoring.cells import DetectorCell, TrainingFacts, evaluate_detector_cells
from .config import GridConfig


def grid_cells(detector: Detector, datasets: dict[str, Dataset], config: GridConfig) -> tuple[list[DetectorCell], TrainingFacts]:
    """The within split (same seed, same content-disjoint split) of the set the detector was
    trained on, if the grid has it, and every other dataset whole (cross)."""
    training_data = detector.manifest.get("training_data") or {}
    trained_on = str(training_data.get("name") or "")
    counts = (training_data.get("counts") or {}).get("train") or {}
    within = config.protocols.within
    seed = within.seeds[0] if within else config.seed
    cells = []
    for name, dataset in datasets.items():
        if name == trained_on and within:
            test_rows = split_by_id(dataset.labels, dataset.ids, within.test_size, seed, dataset.groups)[1]
            cells.append(DetectorCell("within", name, [dataset.records[i] for i in test_rows]))
        else:
            cells.append(DetectorCell("cross", name, list(dataset.records)))
    facts = TrainingFacts(trained_on or detector.spec.backbone.name, seed, int(sum(counts.values())))
    return cells, facts


def evaluate_finetuned_detector(
    detector_dir: Path, datasets: dict[str, Dataset], config: GridConfig, ledger: Ledger, label: str | None = None
) -> list[str]:
    """Score a saved detector on the grid's datasets, recording each cell in `ledger`.

    Returns the cell ids in order (finished ones are skipped, not rescored); its fit time is
    in the fine-tuning run's own run.json, so `fit_seconds` is NaN here.
    """
    detector = Detector.load(detector_dir)
    cells, facts = grid_cells(detector, datasets, config)
    return evaluate_detector_cells(detector, cells, facts, ledger, config.bootstrap, config.batch_size, label=label)
