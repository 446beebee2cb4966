"""Rebuild the built-in detector (src/deepfake_detect/builtin_detectors/default/) from a detector folder.

    .venv/bin/python scripts/build_builtin_detector.py DETECTOR_DIR \
        --test faces-stylegan2=../shared/data/faces-stylegan2 --test t2i-scenes=../shared/data/t2i-scenes \
        --licence "reals: imagenet-sample (ImageNet terms, research only); fakes: TAESD (MIT) and simulated"

The folder is verified (like any load), scored on each test set through `Detector` (as
`predict` does), and rewritten into the package with two more manifest entries: `measured`
(AUC and counts per test set, with the date) and `training_data.licence` (the terms of the
material it was trained on, which decide whether a derived model may be shipped). Replacing
the built-in detector with a better one (e.g. the generalization study's best) is this one
command; then update the README's "Built-in detector" table from the printed lines.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from deepfake_detect.data import load_dataset
from deepfake_detect.detector import BUILTIN_DETECTOR, Detector
from deepfake_detect.detector.builtin import BUILTIN_MAX_BYTES
from deepfake_detect.scoring.cells import score_records
from deepfake_detect.detector.folder import read_detector_folder, write_detector_folder
from deepfake_detect.detector.onnx_export import FOLDER_KEYS
from deepfake_detect.evaluate.metrics import compute_metrics


def measure(detector: Detector, name: str, source: str) -> dict:
    dataset = load_dataset(source, name=name)
    scored = score_records(detector, dataset.records, description=f"score {name}")
    metrics = compute_metrics(scored.y_true, scored.scores, threshold=detector.threshold, n_bootstrap=1000, seed=0)
    return {"name": name, "source": source, "n_real": int((scored.y_true == 0).sum()), "n_fake": int((scored.y_true == 1).sum()),
            **{key: round(float(metrics[key]), 4) for key in ("auc", "auc_low", "auc_high", "accuracy", "ap")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("detector", type=Path)
    parser.add_argument("--test", action="append", default=[], metavar="NAME=PATH", help="a test set to measure AUC on")
    parser.add_argument("--licence", required=True, help="the terms of the training material, in words")
    parser.add_argument("--out", type=Path, default=BUILTIN_DETECTOR, help="default: the package's built-in detector")
    args = parser.parse_args()

    loaded = read_detector_folder(args.detector)
    size = sum(len(data) for data in loaded.files.values())
    if size > BUILTIN_MAX_BYTES:
        raise SystemExit(f"{args.detector}: {size / 2**20:.1f} MB of model files, more than the {BUILTIN_MAX_BYTES // 2**20} MB the package may carry")
    detector = Detector.load(args.detector)
    tests = [measure(detector, *spec.split("=", 1)) for spec in args.test]
    manifest = {key: value for key, value in loaded.raw.items() if key not in FOLDER_KEYS}
    manifest["training_data"] = {**(manifest.get("training_data") or {}), "licence": args.licence}
    manifest["measured"] = {"date": datetime.now(timezone.utc).date().isoformat(), "test_sets": tests,
                            "note": "AUC on sets never used for training or calibration; interval: 1000 bootstrap resamples"}
    manifest["built_from"] = {"folder": str(args.detector), "files": dict(loaded.manifest.files)}
    write_detector_folder(args.out, manifest, loaded.files)
    Detector.load(args.out)  # verified as any folder is
    for row in tests:
        print(f"| {row['name']} | {row['n_real']} | {row['n_fake']} | {row['auc']:.3f} [{row['auc_low']:.3f}, {row['auc_high']:.3f}] |")
    print(f"built-in detector written to {args.out}")


if __name__ == "__main__":
    main()
