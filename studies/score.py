"""Score detector folders on the study's dev sets, as `predict` does: AUC with its bootstrap
interval per set, their mean, and the same after re-encoding both classes at JPEG 75.

    python studies/score.py DETECTOR_DIR [DETECTOR_DIR ...] [--sets faces-stylegan2,t2i-scenes]
        [--data-root ../shared/data] [--max-per-class 500] [--jpeg 75] [--rank-mean] [--out rows.jsonl]

`--rank-mean` adds a row for the rank average of the given detectors (a seed ensemble).
Sets are folders under `--data-root` (env DEEPFAKE_DETECT_DATA, else ../shared/data) with
real/ and fake/ halves. Nothing here trains: models come from `deepfake-detect finetune`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from deepfake_detect.data import load_dataset
from deepfake_detect.detector import Detector
from deepfake_detect.scoring.cells import score_records
from deepfake_detect.evaluate.metrics import compute_metrics
from deepfake_detect.transforms.degrade import Degradation

DEV_SETS = ("faces-stylegan2", "t2i-scenes")


def default_data_root() -> Path:
    return Path(os.environ.get("DEEPFAKE_DETECT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def auc_row(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    metrics = compute_metrics(y_true, scores, n_bootstrap=1000, seed=0)
    return {key: round(float(metrics[key]), 4) for key in ("auc", "auc_low", "auc_high")}


def score_sets(detectors: dict[str, Detector], sets: list[str], root: Path, max_per_class: int,
               jpeg: int | None) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{detector: {set or 'set@jpeg75': (labels, scores)}}."""
    out: dict[str, dict] = {name: {} for name in detectors}
    for set_name in sets:
        records = load_dataset(root / set_name, max_per_class=max_per_class, seed=0, name=set_name).records
        conditions = [(set_name, None)] + ([(f"{set_name}@jpeg{jpeg}", Degradation(kind="jpeg", level=jpeg))] if jpeg else [])
        for label, degradation in conditions:
            for name, detector in detectors.items():
                scored = score_records(detector, records, degradation, description=f"{Path(name).name} {label}")
                out[name][label] = (scored.y_true, scored.scores)
    return out


def rank_mean(members: list[dict[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {label: (members[0][label][0], np.mean([rankdata(m[label][1]) for m in members], axis=0))
            for label in members[0]}


def summarise(name: str, scored: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    row: dict = {"detector": name, "sets": {label: auc_row(*pair) for label, pair in scored.items()}}
    native = [v["auc"] for label, v in row["sets"].items() if "@" not in label]
    row["mean_auc"] = round(float(np.mean(native)), 4)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("detectors", nargs="+", help="detector folders ('builtin' for the package's)")
    parser.add_argument("--sets", default=",".join(DEV_SETS))
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--max-per-class", type=int, default=500)
    parser.add_argument("--jpeg", type=int, default=75, help="0: skip the JPEG re-encoding check")
    parser.add_argument("--rank-mean", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="append one JSON line per row")
    args = parser.parse_args(argv)
    root = args.data_root or default_data_root()
    detectors = {name: Detector.load(None if name == "builtin" else name) for name in args.detectors}
    scored = score_sets(detectors, args.sets.split(","), root, args.max_per_class, args.jpeg or None)
    rows = [summarise(name, scored[name]) for name in detectors]
    if args.rank_mean and len(detectors) > 1:
        rows.append(summarise("rank-mean(" + ",".join(detectors) + ")", rank_mean(list(scored.values()))))
    for row in rows:
        cells = "; ".join(f"{label} {v['auc']:.3f} [{v['auc_low']:.3f}, {v['auc_high']:.3f}]" for label, v in row["sets"].items())
        print(f"{row['detector']}: mean {row['mean_auc']:.3f}; {cells}", flush=True)
        if args.out:
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
