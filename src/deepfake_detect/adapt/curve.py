"""The few-shot curve: AUC on a held-out generator against k, the number of its images seen.

For each k (and k = 0, the detector as it was), the first k images of one seeded shuffle of
the fakes pool (and of the reals pool, when given) adapt the detector (`adapt_detector`), the
adapted folder is kept in RUN_DIR/detectors/kK, and it is scored on the test set minus every
image it was adapted on, through `Detector` as `predict` does. Rows follow `runs.schema`
(approach "adapt", perturbation "few_shot", level k) and go through the run's ledger, so an
interrupted curve resumes per k; the report draws the curve.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Dataset
from ..data.images import file_image_id
from ..runs import Ledger
from ..runs.folder import write_results
from .network import AdaptSettings, adapt_detector

log = logging.getLogger(__name__)

FEW_SHOT = "few_shot"
DETECTORS_DIR = "detectors"


def few_shot_curve(
    detector_dir: str | Path,
    fakes: Sequence[Path],
    test: Dataset,
    ks: Sequence[int],
    run_dir: str | Path,
    reals: Sequence[Path] = (),
    settings: AdaptSettings = AdaptSettings(),
    bootstrap: int = 200,
    on_bad: Callable[[str], None] = log.warning,
) -> pd.DataFrame:
    """Adapt with k = 0, k1, k2, ... images and score each on `test`; the results table."""
    from ..detector import Detector
    from ..scoring.cells import DetectorCell, TrainingFacts, detector_row, score_records

    run_dir = Path(run_dir)
    ledger = Ledger(run_dir)
    rng = np.random.default_rng(settings.seed)
    fake_order = [fakes[i] for i in rng.permutation(len(fakes))]
    real_order = [reals[i] for i in rng.permutation(len(reals))]
    original = Detector.load(detector_dir, "cpu", runtime="torch")
    trained_on = str((original.manifest.get("training_data") or {}).get("name") or original.spec.backbone.name)
    ids = []
    for k in sorted({0, *ks}):
        if k > len(fake_order):
            on_bad(f"k={k}: only {len(fake_order)} fake images to adapt on; skipped")
            continue
        shots, real_shots = fake_order[:k], real_order[:k]
        detector = original if k == 0 else _adapted(detector_dir, shots, real_shots, run_dir / DETECTORS_DIR / f"k{k}",
                                                     settings, on_bad)
        seen = {file_image_id(p) for p in [*shots, *real_shots]}
        records = [r for r, image in zip(test.records, test.ids) if image not in seen]
        cell = DetectorCell(FEW_SHOT, test.name, records)
        facts = TrainingFacts(f"{trained_on} + {k} shots", settings.seed, k + len(real_shots), math.nan)
        probe = detector_row_id(detector, cell, facts, bootstrap)
        if probe not in ledger:
            scored = score_records(detector, records, description=f"k={k} on {test.name}", on_bad=on_bad)
            row = detector_row(detector, cell, facts, scored, bootstrap)
            ledger.append({**row, "approach": "adapt", "perturbation": FEW_SHOT, "level": k}, scored.y_true, scored.scores)
        ids.append(probe)
    rows = ledger.table(ids)
    write_results(run_dir, rows)
    return rows


def detector_row_id(detector, cell, facts, bootstrap: int) -> str:
    from ..scoring.cells import detector_cell_id

    return detector_cell_id(detector, cell, facts.seed, bootstrap)


def _adapted(detector_dir, shots, real_shots, folder: Path, settings: AdaptSettings, on_bad):
    """The detector adapted on `shots`, reusing the folder of an interrupted run when it was made from the same images."""
    from ..detector import Detector
    from ..errors import DetectorError

    wanted = sorted(file_image_id(p) for p in [*shots, *real_shots])
    try:
        existing = Detector.load(folder, "cpu", runtime="torch")
        record = existing.manifest.get("adapted") or {}
        if record.get("images") == wanted and record.get("settings") == asdict(settings):
            return existing
    except DetectorError:
        pass
    adapt_detector(detector_dir, shots, real_shots, folder, settings, on_bad)
    return Detector.load(folder, "cpu", runtime="torch")
