"""Build a rank-ensemble detector folder from fine-tuned detector folders and held-out reals.

Seeds of one recipe differ as much as recipes do on generators they never saw (the
generalization study: faces AUC 0.66, 0.70 and 0.41 over three seeds of one recipe), and no
validation split says which seed to trust. The rank ensemble (`backbones.ensemble`) keeps all
of them. The reals are split in two by a seeded draw: one half is the reference each member's
score is ranked against, the other sets the threshold (`calibrate`), so neither is read off
the images it was made from. Members must be fine-tuned networks with one preprocessing.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..calibrate import calibrate_detector
from ..calibrate.threshold import images_digest
from ..data import ImageRecord
from ..detector.detector import Detector
from ..detector.folder import read_detector_folder, write_detector_folder
from ..detector.kinds.ensemble import ARCH, ONNX_OUTPUT, OUTPUT
from ..detector.kinds.network import WEIGHTS_FILE
from ..detector.onnx_export import with_onnx
from ..errors import UserError
from ..runtime import versions
from ..scoring.cells import score_records

log = logging.getLogger(__name__)

MIN_REALS = 20
"""Ten for the reference and ten for the threshold, at the least (`calibrate` needs ten)."""
PROBABILITY_CLIP = 1e-7
"""A member's P(fake) is clipped to [clip, 1 - clip] before it becomes a margin (log-odds)."""


@dataclass(frozen=True)
class Ensembled:
    path: Path
    members: int
    reference_reals: int
    threshold: float
    calibration_reals: int


def build_ensemble(
    members: Sequence[str | Path],
    reals: Sequence[Path],
    output: str | Path,
    target_fpr: float = 0.05,
    seed: int = 0,
    batch_size: int = 32,
    on_bad: Callable[[str], None] = log.warning,
) -> Ensembled:
    """Write `output`: the rank ensemble of the fine-tuned detector folders `members`."""
    import torch

    from ..backbones.ensemble import RankEnsemble
    from ..backbones.finetuned import weights_bytes

    if len(members) < 2:
        raise UserError(f"an ensemble needs at least 2 member detectors, got {len(members)}")
    folders = [read_detector_folder(member) for member in members]
    _check_members(folders)
    reference, calibration = _split_reals(reals, seed)
    detectors = [Detector.load(folder.path, runtime="torch") for folder in folders]
    margins = torch.stack([_margins(detector, reference, batch_size, on_bad) for detector in detectors])
    ensemble = RankEnsemble([detector.model.network for detector in detectors], margins.shape[1])
    ensemble.set_reference(margins)
    ensemble.eval()

    first = folders[0]
    manifest = {
        "kind": "ensemble",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "backbone": {"name": ARCH, "weights_id": "members", "members": [f.manifest.backbone.name for f in folders],
                     "reference_size": int(margins.shape[1])},
        "preprocess": first.raw["preprocess"],
        "threshold": 0.5,
        "calibration": None,
        "output": OUTPUT,
        "members": [{"folder": str(Path(f.path).resolve()), "files": dict(f.manifest.files),
                     "validation": f.raw.get("validation"), "measured": f.raw.get("measured")} for f in folders],
        "reference_reals": {"count": int(margins.shape[1]), "images": images_digest(reference), "seed": seed},
        "training_data": {"members": [f.raw.get("training_data") for f in folders]},
        "versions": versions(),
    }
    manifest, files = with_onnx(manifest, {WEIGHTS_FILE: weights_bytes(ensemble)}, ensemble,
                                first.manifest.preprocess.size, ONNX_OUTPUT)
    with tempfile.TemporaryDirectory(prefix="ensemble-") as tmp:
        uncalibrated = write_detector_folder(Path(tmp) / "detector", manifest, files)
        done = calibrate_detector(uncalibrated, calibration, output, target_fpr, batch_size, on_bad)
    return Ensembled(done.path, len(folders), int(margins.shape[1]), done.threshold, done.n_reals)


def _check_members(folders: Sequence) -> None:
    """Fine-tuned networks only, with one preprocessing (the ensemble scores one input tensor)."""
    for folder in folders:
        if folder.manifest.kind != "finetune":
            raise UserError(f"{folder.path}: a '{folder.manifest.kind}' detector; an ensemble's members are "
                            "fine-tuned networks ('finetune' folders, from `finetune`)")
    blocks = {folder.manifest.preprocess for folder in folders}
    if len(blocks) > 1:
        raise UserError("the members preprocess images differently (" + "; ".join(
            f"{f.path}: {f.manifest.preprocess.policy} {f.manifest.preprocess.size}" for f in folders) + ")")


def _split_reals(reals: Sequence[Path], seed: int) -> tuple[list[Path], list[Path]]:
    """Half for the reference, half for the threshold, by a seeded draw (never one for both)."""
    paths = sorted({Path(path) for path in reals})
    if len(paths) < MIN_REALS:
        raise UserError(f"an ensemble needs at least {MIN_REALS} real images (half rank the members, "
                        f"half set the threshold); got {len(paths)}")
    order = np.random.default_rng(seed).permutation(len(paths))
    half = len(paths) // 2
    return [paths[i] for i in sorted(order[:half])], [paths[i] for i in sorted(order[half:])]


def _margins(detector: Detector, reals: Sequence[Path], batch_size: int, on_bad: Callable[[str], None]):
    """(usable reals,) the member's logit margin on each reference real, from its P(fake)."""
    import torch

    scored = score_records(detector, [ImageRecord(path, 0) for path in reals], batch_size=batch_size,
                           description="reference reals", on_bad=on_bad)
    if len(scored.scores) < MIN_REALS // 2:
        raise UserError(f"only {len(scored.scores)} usable reference real image(s); the ranks need at least {MIN_REALS // 2}")
    p = np.clip(scored.scores, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return torch.from_numpy(np.log(p) - np.log1p(-p)).float()
