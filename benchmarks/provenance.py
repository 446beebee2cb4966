"""What the provenance stage costs, beside the pixel detector in the same run; and the
watermark threshold's false-alarm rate on unmarked photographs.

    PYTHONPATH=src python benchmarks/provenance.py [--photos DIR] [--n 200]
        time per image (p50, p95) of the provenance stage on plain JPEG photographs (no
        metadata) and on C2PA-signed copies of them, and of the built-in pixel detector on the
        same photographs; prints stage / detector ratios (timings are noisy on a shared machine:
        read the ratios).
    PYTHONPATH=src python benchmarks/provenance.py --watermark-false-alarms [--photos DIR]
        decodes the three Stable Diffusion marks in both channel orders on every photograph and
        prints the highest share of matching bits and how many reach MATCH_THRESHOLD.

Photos default to ../shared/data/imagenet-sample (1,000 ImageNet validation JPEGs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "imagenet-sample"


def percentiles(seconds: list[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50)) * 1e3, float(np.percentile(seconds, 95)) * 1e3


def time_each(function, items) -> list[float]:
    spent = []
    for item in items:
        start = time.perf_counter()
        function(item)
        spent.append(time.perf_counter() - start)
    return spent


def signed_copies(photos: list[Path], folder: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    from provenance_signing import make_ca, sign_jpeg

    ca = make_ca()
    copies = []
    for photo in photos:
        copy = folder / photo.name
        copy.write_bytes(sign_jpeg(photo.read_bytes(), ca, "trainedAlgorithmicMedia"))
        copies.append(copy)
    return copies


def timing(photos: list[Path]) -> None:
    from deepfake_detect.detector import Detector
    from deepfake_detect.provenance import ProvenanceReader

    reader = ProvenanceReader()
    pixels_only = Detector.load(provenance=False)
    with_stage = Detector.load(provenance=reader)
    with tempfile.TemporaryDirectory() as scratch:
        signed = signed_copies(photos, Path(scratch))
        list(pixels_only.predict_paths(photos[:8]))  # warm up both (c2pa loads its library on first use)
        list(with_stage.predict_paths(signed[:8]))
        rows = {}
        rows["provenance stage, plain JPEG"] = time_each(reader.read_path, photos)
        rows["provenance stage, C2PA-signed"] = time_each(reader.read_path, signed)
        rows["pixel detector, per image"] = time_each(lambda p: list(pixels_only.predict_paths([p])), photos)
        runs: dict[str, list[float]] = {"pixels": [], "both": []}
        for _ in range(3):  # alternated, best of three: other work on the machine inflates single runs
            for name, detector in (("pixels", pixels_only), ("both", with_stage)):
                start = time.perf_counter()
                list(detector.predict_paths(photos, batch_size=32))
                runs[name].append((time.perf_counter() - start) / len(photos))
        batch_pixels, batch_both = min(runs["pixels"]), min(runs["both"])
    detector_p50, _ = percentiles(rows["pixel detector, per image"])
    print(f"{len(photos)} photographs from {photos[0].parent}")
    print(f"{'':34} {'p50 ms':>8} {'p95 ms':>8} {'/ detector p50':>15}")
    for name, seconds in rows.items():
        p50, p95 = percentiles(seconds)
        print(f"{name:34} {p50:8.1f} {p95:8.1f} {p50 / detector_p50:15.3f}")
    stage_mean = float(np.mean(rows["provenance stage, plain JPEG"]))
    print(f"provenance stage mean on plain JPEG: {stage_mean * 1e3:.1f} ms = "
          f"{stage_mean / batch_pixels:.1%} of predict's pixels-only time per image")
    print(f"predict (batches of 32, best of 3), pixels only: {batch_pixels * 1e3:.1f} ms/image; with the provenance "
          f"stage: {batch_both * 1e3:.1f} ms/image; added {batch_both / batch_pixels - 1:+.1%}")


def watermark_false_alarms(photos: list[Path]) -> None:
    from PIL import Image

    from deepfake_detect.provenance.watermark import MIN_PIXELS, THRESHOLDS, match_shares

    highest: dict[tuple[str, str], float] = {}
    alarms, used = 0, 0
    for photo in photos:
        with Image.open(photo) as image:
            rgb = np.asarray(image.convert("RGB"))
        if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
            continue
        used += 1
        shares = match_shares(rgb)
        alarms += any(share >= THRESHOLDS[mark] for (mark, _), share in shares.items())
        for key, share in shares.items():
            highest[key] = max(highest.get(key, 0.0), share)
    print(f"{used} unmarked photographs (>= 256x256 px) from {photos[0].parent}")
    for (mark, order), share in sorted(highest.items()):
        print(f"  {mark:34} {order}: highest share of matching bits {share:.3f} (threshold {THRESHOLDS[mark]:.3f})")
    print(f"false alarms: {alarms} of {used} photographs ({alarms / max(used, 1):.2%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--n", type=int, default=200, help="photographs to time (all for --watermark-false-alarms)")
    parser.add_argument("--watermark-false-alarms", action="store_true")
    args = parser.parse_args()
    photos = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        sys.exit(f"{args.photos}: no JPEG photographs")
    if args.watermark_false_alarms:
        watermark_false_alarms(photos)
    else:
        timing(photos[: args.n])


if __name__ == "__main__":
    main()
