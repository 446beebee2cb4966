"""Local engine vs Ray engine on the same images, and what 10 million images would take.

    .venv/bin/python benchmarks/engines.py [--images N] [--backbone B] [--batch-size B] [--data PATH]

On the first N images of ../shared/data/imagenet-sample (or --data), with random weights
(the timing is the same as pretrained):

* local: `extract_features` into a fresh cache, default workers/threads;
* ray xK: `extract_with_ray` with K single-CPU actors (K = cores, then 1) into a fresh
  cache, on a local Ray instance started once beforehand (its start-up is printed, not
  counted). "wall" is the whole call: listing, actor start-up (importing torch, building
  the model), extraction, ingest. "steady" is the rate once every actor has finished its
  first batch (start-up over), which is what a long run sees.

Then a paper estimate for 10 million 256 px images, from the measured costs: CPU-seconds per
image of the whole pipeline (local engine: cores / img/s) and of decoding + preprocessing
alone (one thread), and an assumed GPU model rate (stated; not measured here, there is no GPU).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from deepfake_detect.backbones import create_backbone
from deepfake_detect.data.datasets import Dataset, ImageRecord
from deepfake_detect.data.images import is_image_path
from deepfake_detect.data.loader import collate
from deepfake_detect.features import FeatureCache, extract_features
from deepfake_detect.features.extract import extraction_images
from deepfake_detect.runtime import cpu_cores
from deepfake_detect.transforms import TransformSpec

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imagenet-sample"
TARGET_IMAGES = 10_000_000
NODE_CORES = 32
ASSUMED_GPU_IMAGES_PER_S = 2500.0
"""EfficientNet-Lite0-class model, fp32, batch 64, on one T4/L4-class GPU: an assumption
for the estimate, to be replaced by a measurement on real hardware."""


def dataset_of(folder: Path, count: int) -> Dataset:
    paths = sorted(p for p in folder.iterdir() if is_image_path(p))[:count]
    if not paths:
        sys.exit(f"no images in {folder}")
    dataset = Dataset(folder.name, [ImageRecord(p, i % 2) for i, p in enumerate(paths)])
    dataset.ids  # content hashes before timing, as the CLI computes them before extraction
    return dataset


def time_local(dataset: Dataset, backbone_name: str, batch_size: int) -> float:
    backbone = create_backbone(backbone_name, "random")
    with tempfile.TemporaryDirectory() as tmp, FeatureCache(tmp) as cache:
        started = time.perf_counter()
        report = extract_features(dataset, backbone, cache, batch_size=batch_size)
        return report.extracted / (time.perf_counter() - started)


def time_ray(dataset: Dataset, backbone_name: str, batch_size: int, actors: int) -> tuple[float, float]:
    from deepfake_detect.engines.extract import BackboneRecipe, extract_with_ray

    finished: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as tmp, FeatureCache(tmp) as cache:
        started = time.perf_counter()
        report = extract_with_ray(
            dataset, BackboneRecipe(backbone_name, "random"), cache, batch_size=batch_size, actors=actors,
            show_progress=False, on_batch=lambda row: finished.append((time.perf_counter(), row["done"])),
        )
        wall = report.extracted / (time.perf_counter() - started)
    return wall, steady_rate(finished, actors)


def steady_rate(finished: list[tuple[float, int]], actors: int) -> float:
    """Images/s after every actor has finished one batch (start-up is over for all of them):
    the images of the later batches over the time from the `actors`-th finish to the last."""
    if len(finished) <= actors:
        return 0.0
    start = finished[actors - 1][0]
    return sum(n for _, n in finished[actors:]) / max(finished[-1][0] - start, 1e-9)


def decode_seconds_per_image(dataset: Dataset, backbone_name: str) -> float:
    """One thread: read, decode (JPEG draft under resize), resize, normalise; no model."""
    backbone = create_backbone(backbone_name, "random")
    items = [(r.path, i) for r, i in zip(dataset.records, dataset.ids)]
    images = extraction_images(items, backbone, TransformSpec(), "resize", None, None)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        collate([images[i] for i in range(len(images))])
        return (time.perf_counter() - started) / len(images)
    finally:
        torch.set_num_threads(previous)


def estimate(cpu_seconds_per_image: float, decode_seconds: float) -> None:
    core_hours = TARGET_IMAGES * cpu_seconds_per_image / 3600
    node_rate = NODE_CORES / cpu_seconds_per_image
    print("\n10 million images at 256 px (measured on 224 px inputs from ImageNet JPEGs; 256 px sources decode")
    print(f"a little faster, so this is conservative). Nodes of {NODE_CORES} cores, Ray overhead as measured above.")
    print(f"CPU only: {cpu_seconds_per_image * 1000:.1f} CPU-ms/image -> {core_hours:,.0f} core-hours; "
          f"one node {node_rate:,.0f} img/s = {TARGET_IMAGES / node_rate / 3600:,.1f} h")
    for hours in (24, 4, 1):
        print(f"  in {hours:>2} h: {math.ceil(core_hours / (NODE_CORES * hours))} nodes")
    decode_rate = NODE_CORES / decode_seconds
    gpu_rate = min(decode_rate, ASSUMED_GPU_IMAGES_PER_S)
    bound = "decoding on the CPUs" if decode_rate < ASSUMED_GPU_IMAGES_PER_S else "the GPU"
    print(f"One GPU per node (assumed {ASSUMED_GPU_IMAGES_PER_S:,.0f} img/s for the model), decoding "
          f"{decode_seconds * 1000:.1f} CPU-ms/image on {NODE_CORES} cores = {decode_rate:,.0f} img/s:")
    print(f"  one node {gpu_rate:,.0f} img/s (bound by {bound}) = {TARGET_IMAGES / gpu_rate / 3600:,.1f} h")
    for hours in (24, 4, 1):
        print(f"  in {hours:>2} h: {math.ceil(TARGET_IMAGES / (gpu_rate * hours * 3600))} nodes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data}: not found (the shared data sit beside the checkout; or pass --data)")
    import ray

    dataset = dataset_of(args.data, args.images)
    cores = cpu_cores()
    print(f"{len(dataset)} images from {args.data}, {args.backbone} (random weights), batch {args.batch_size}, "
          f"{cores} cores")
    started = time.perf_counter()
    ray.init(num_cpus=cores, include_dashboard=False, logging_level="WARNING")
    print(f"local Ray instance started in {time.perf_counter() - started:.1f} s (not counted below)")
    local = time_local(dataset, args.backbone, args.batch_size)
    rows = [("local", local, local)]
    for actors in sorted({cores, 1}, reverse=True):
        wall, steady = time_ray(dataset, args.backbone, args.batch_size, actors)
        rows.append((f"ray x{actors}", wall, steady))
    ray.shutdown()
    print(f"\n{'engine':<10} {'wall img/s':>11} {'steady img/s':>13} {'local/steady':>13}")
    for name, wall, steady in rows:
        print(f"{name:<10} {wall:>11.1f} {steady:>13.1f} {local / steady if steady else float('nan'):>13.2f}")
    estimate(cores / local, decode_seconds_per_image(dataset, args.backbone))


if __name__ == "__main__":
    main()
