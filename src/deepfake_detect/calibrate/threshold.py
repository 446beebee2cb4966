"""Calibrating a detector's threshold on real photographs it never saw.

A threshold decides how many real photos a detector calls fake. Set on a training set's own
validation reals it carries that set's camera, compression and content; an analyst's photos
differ, and a network fine-tuned with the default 0.5 was never calibrated at all. This
rescoring keeps the model and its files exactly as they are (same sha256), scores the given
reals through `Detector` (as `predict` does), and writes a copy whose threshold lets at most
`target_fpr` of them score above it, with what it was calibrated on in `threshold_rule`.
Only the threshold changes: AUC does not, accuracy and false-alarm rate do.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import ImageRecord
from ..errors import UserError
from ..detector.detector import Detector
from ..scoring.cells import score_records
from ..detector.folder import read_detector_folder, write_detector_folder
from ..detector.onnx_export import FOLDER_KEYS
from ..evaluate.metrics import threshold_for_fpr

log = logging.getLogger(__name__)


MIN_CALIBRATION_REALS = 10
"""Fewer distinct reals set a threshold from one or two scores: a false-alarm rate in steps of 10% or worse."""


def _check_distinct(reals: Sequence[Path]) -> None:
    """Refuse fewer than MIN_CALIBRATION_REALS different images (copies of one photo count once)."""
    from ..data.images import file_image_id

    distinct = {file_image_id(p) for p in reals if Path(p).is_file()}
    if len(distinct) < MIN_CALIBRATION_REALS:
        raise UserError(f"calibrating needs at least {MIN_CALIBRATION_REALS} distinct real images; "
                        f"got {len(distinct)} distinct among {len(reals)} file(s)")


def images_digest(paths: Sequence[str | Path]) -> str:
    """sha256 of the sorted paths: which images a threshold (or a reference) was set on, without listing them."""
    return hashlib.sha256("\n".join(sorted(str(p) for p in paths)).encode()).hexdigest()


@dataclass(frozen=True)
class Calibrated:
    path: Path
    threshold: float
    previous: float
    n_reals: int
    skipped: int


def calibrate_detector(
    detector_dir: str | Path,
    reals: Sequence[Path],
    output: str | Path,
    target_fpr: float = 0.05,
    batch_size: int = 32,
    on_bad: Callable[[str], None] = log.warning,
) -> Calibrated:
    """Write `output`: the detector at `detector_dir` with its threshold set on `reals`."""
    if not 0 < target_fpr < 1:
        raise UserError(f"target false-positive rate must be between 0 and 1, not {target_fpr}")
    _check_distinct(reals)
    loaded = read_detector_folder(detector_dir)
    detector = Detector.load(detector_dir)
    records = [ImageRecord(Path(path), 0) for path in reals]
    skipped: list[str] = []

    def bad(message: str) -> None:
        skipped.append(message)
        on_bad(message)

    scored = score_records(detector, records, batch_size=batch_size, description="calibrate", on_bad=bad)
    if len(scored.scores) < MIN_CALIBRATION_REALS:
        raise UserError(f"only {len(scored.scores)} usable real image(s) to calibrate on; "
                        f"a threshold needs at least {MIN_CALIBRATION_REALS} distinct ones")
    if not np.isfinite(scored.scores).all():
        raise UserError("the detector gave scores that are not finite on these reals; no threshold can be set")
    threshold = float(min(max(threshold_for_fpr(scored.scores, scored.y_true, target_fpr), 0.0), 1.0))
    images = images_digest([r.path for r in records])
    manifest = {key: value for key, value in loaded.raw.items() if key not in FOLDER_KEYS}
    manifest["threshold"] = threshold
    manifest["threshold_rule"] = {
        "rule": "target_fpr",
        "target_fpr": target_fpr,
        "threshold": threshold,
        "calibration_reals": int(len(scored.scores)),
        "calibration_fpr": float(np.mean(scored.scores > threshold)),
        "calibration_images": images,
        "previous": loaded.raw.get("threshold_rule") or {"threshold": loaded.manifest.threshold},
        "note": "threshold set by `calibrate` on held-out real photographs; FPR resolution is 1/calibration_reals",
    }
    path = write_detector_folder(output, manifest, loaded.files)
    return Calibrated(path, threshold, loaded.manifest.threshold, int(len(scored.scores)), len(skipped))
