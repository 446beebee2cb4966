"""End-to-end extraction throughput: the project's pipeline against a plain baseline.

    .venv/bin/python benchmarks/extract.py [--backbones efficientnet_lite0,resnet50,dino_vitb16]
        [--images N] [--batch-size B] [--repeats R] [--data PATH] [--workers W]

For each backbone (random weights by default: the timing is the same) and on the same images:

* baseline: for each batch of paths, `Image.open(p).convert("RGB")`, torchvision
  `Compose([Resize((224, 224), bicubic), ToTensor(), Normalize(mean, std)])`, stack, and
  `model(x)` under `torch.no_grad()`; default torch settings, no workers, nothing overlapped.
* pipeline: `extract_features` into a fresh temporary `FeatureCache` (so nothing comes from the
  cache and the SQLite writes are part of what is timed), with its default workers/threads.

Images/s include decoding. Content hashes (the cache keys) are computed before timing, as the
CLI does before extraction starts. Every repeat measures, in this order: this CPU's fp32 GEMM
rate (torch.matmul of 2048x2048 matrices, best of 3), the baseline, the GEMM rate again, the
pipeline; the table shows the median over repeats, after one untimed warm-up of each. The GEMM
rate used is the best of all those measurements: on a shared machine that keeps the fraction
conservative (a loaded moment lowers the throughput, never the rate). Model FLOPs are counted with
`torch.utils.flop_counter.FlopCounterMode` on one 224x224 image, where one multiply-add is
2 FLOPs; "pipe/GEMM" is model FLOPs/img x pipeline img/s / GEMM FLOP/s (and likewise for the
baseline).

Correctness, printed under the table:
* "model path": the pipeline's model (`inference_copy`: batch norms folded, channels_last)
  and `embed` on the baseline's own tensors against the baseline model: must agree to 1e-4,
  absolute and relative to the largest feature (checked; exit 1 otherwise).
* "end to end": pipeline features against baseline features. The two preprocess differently
  (the pipeline decodes JPEGs in draft mode under the resize policy and resizes the uint8
  tensor; the baseline resizes the PIL image), so this is a size, not a pass/fail.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from deepfake_detect.backbones import create_backbone
from deepfake_detect.data.datasets import Dataset, ImageRecord
from deepfake_detect.data.images import load_rgb
from deepfake_detect.features import FeatureCache, extract_features
from deepfake_detect.features import extract as pipeline_module
from deepfake_detect.features.extract import embed, inference_copy
from deepfake_detect.transforms import build_preprocess

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "imagenet-sample"
DEFAULT_BACKBONES = "efficientnet_lite0,resnet50,dino_vitb16"
# Images per backbone when --images is not given: a few minutes in all on a 2-core CPU.
DEFAULT_IMAGES = {"efficientnet_lite0": 96, "resnet50": 48, "dino_vitb16": 24}
FALLBACK_IMAGES = 48
GEMM_SIZE = 2048
GEMM_RATES: list[float] = []  # every measurement of the run; the best is "this CPU's rate"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", default=DEFAULT_BACKBONES, help="comma-separated registered backbones")
    parser.add_argument(
        "--images", type=int, default=None,
        help="images per backbone (the first N of --data, sorted); default "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_IMAGES.items()) + f", others {FALLBACK_IMAGES}",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="for both pipelines")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--workers", type=int, default=None, help="pipeline workers [its default]")
    parser.add_argument(
        "--weights", default="random",
        help="'random' (timing is the same) or 'pretrained' (offline only for efficientnet_lite0)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of images")
    return parser.parse_args(argv)


def image_paths(folder: Path, n: int) -> list[Path]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        sys.exit(f"no images in {folder}")
    return paths[:n]


def gemm_flops_per_second(size: int = GEMM_SIZE, tries: int = 3) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def model_flops(model: torch.nn.Module, size: int) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, size, size))
    return counter.get_total_flops()


def baseline_features(model: torch.nn.Module, paths: list[Path], batch_size: int, transform) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(paths), batch_size):
            x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[start : start + batch_size]])
            out.append(model(x).numpy())
    return np.concatenate(out)


def pipeline_run(backbone, dataset: Dataset, batch_size: int, workers: int | None) -> tuple[float, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as folder, FeatureCache(folder) as cache:
        started = time.perf_counter()
        report = extract_features(dataset, backbone, cache, batch_size=batch_size, workers=workers)
        seconds = time.perf_counter() - started
        if report.bad or report.extracted != len(dataset):
            sys.exit(f"pipeline extracted {report.extracted} of {len(dataset)}; bad: {report.bad[:3]}")
        features = cache.get(report.space, dataset.ids)
    return seconds, features


def bench_backbone(name: str, args: argparse.Namespace) -> dict:
    n = args.images or DEFAULT_IMAGES.get(name, FALLBACK_IMAGES)
    paths = image_paths(args.data, n)
    n = len(paths)
    dataset = Dataset("bench", [ImageRecord(p, 0) for p in paths])
    assert len(dataset.ids) == n  # content hashes: computed once, before timing
    plain = create_backbone(name, args.weights, seed=0)  # default memory format, as a user would run it
    ours = create_backbone(name, args.weights, seed=0)  # same weights; the pipeline prepares it
    info = plain.info
    transform = T.Compose([
        T.Resize((info.input_size, info.input_size), interpolation=T.InterpolationMode.BICUBIC),
        T.ToTensor(),
        T.Normalize(info.mean, info.std),
    ])
    flops = model_flops(plain, info.input_size)
    warm = paths[: min(n, args.batch_size)]
    baseline_features(plain, warm, args.batch_size, transform)
    pipeline_run(ours, Dataset("warm", [ImageRecord(p, 0) for p in warm]), args.batch_size, args.workers)

    base_t, pipe_t = [], []
    for _ in range(args.repeats):
        gc.collect()
        GEMM_RATES.append(gemm_flops_per_second())
        started = time.perf_counter()
        base_x = baseline_features(plain, paths, args.batch_size, transform)
        base_t.append(time.perf_counter() - started)
        GEMM_RATES.append(gemm_flops_per_second())
        seconds, pipe_x = pipeline_run(ours, dataset, args.batch_size, args.workers)
        pipe_t.append(seconds)

    # Model path: the pipeline's preparation and embedding on the baseline's own tensors.
    probe = torch.stack([transform(Image.open(p).convert("RGB")) for p in warm[:4]])
    with torch.no_grad():
        expected = plain(probe).numpy()
    got = embed(inference_copy(ours, torch.device("cpu")), probe, torch.device("cpu"))
    model_diff = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    # Draft decoding alone: the project's preprocessing with and without it, on the first images
    # of the folder at least twice the input size on both sides (the only ones it changes).
    size = info.input_size
    large = [p for p in image_paths(args.data, 10**9) if min(Image.open(p).size) >= 2 * size][:4]
    draft_rel = draft_cos = float("nan")
    if large:
        to_tensor = build_preprocess("resize", size, info.mean, info.std)
        with torch.no_grad():
            full, drafted = (
                plain(torch.stack([to_tensor(load_rgb(p, None, d)) for p in large])).numpy() for d in (None, size)
            )
        draft_rel = float(np.linalg.norm(drafted - full) / np.linalg.norm(full))
        draft_cos = float(((drafted * full).sum(1) / (np.linalg.norm(drafted, axis=1) * np.linalg.norm(full, axis=1))).min())
    e2e = np.abs(pipe_x - base_x)
    cos = (pipe_x * base_x).sum(1) / (np.linalg.norm(pipe_x, axis=1) * np.linalg.norm(base_x, axis=1) + 1e-30)
    base_ips = n / statistics.median(base_t)
    pipe_ips = n / statistics.median(pipe_t)
    return {
        "backbone": name, "images": n, "base": base_ips, "pipe": pipe_ips, "gflops": flops / 1e9,
        "achieved": flops * pipe_ips / 1e9,
        "base_runs": [n / t for t in base_t], "pipe_runs": [n / t for t in pipe_t],
        "model_diff": model_diff, "scale": scale, "draft_n": len(large), "draft_rel": draft_rel, "draft_cos": draft_cos, "e2e_max": float(e2e.max()),
        "e2e_rel": float(np.linalg.norm(pipe_x - base_x) / np.linalg.norm(base_x)), "cos_min": float(cos.min()),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [b.strip() for b in args.backbones.split(",") if b.strip()]
    workers = pipeline_module.default_workers() if args.workers is None else args.workers
    if workers:
        streams, threads = pipeline_module.cpu_parallelism(workers)
        how = f"workers={workers}: {streams} threads each decoding and embedding whole batches, {threads} torch thread(s) each"
    else:
        how = f"workers=0: decoding and embedding in turn, {torch.get_num_threads()} torch threads"
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs; baseline: {torch.get_num_threads()} torch threads, "
        f"no workers; pipeline: {how}; batch {args.batch_size}; data {args.data}; median of {args.repeats} repeats",
        flush=True,
    )
    GEMM_RATES.append(gemm_flops_per_second())
    rows = []
    for name in names:
        started = time.perf_counter()
        rows.append(bench_backbone(name, args))
        r = rows[-1]
        print(
            f"  {name}: {r['images']} images, {time.perf_counter() - started:.0f} s; runs img/s baseline "
            + " ".join(f"{v:.1f}" for v in r["base_runs"]) + ", pipeline " + " ".join(f"{v:.1f}" for v in r["pipe_runs"]),
            flush=True,
        )
    gemm = max(GEMM_RATES)
    header = (
        f"{'backbone':<20}{'images':>7}{'base img/s':>12}{'pipe img/s':>12}{'ratio':>7}{'GFLOP/img':>11}"
        f"{'pipe GFLOP/s':>14}{'pipe/GEMM':>11}{'base/GEMM':>11}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(
            f"{r['backbone']:<20}{r['images']:>7}{r['base']:>12.2f}{r['pipe']:>12.2f}{r['pipe'] / r['base']:>6.2f}x"
            f"{r['gflops']:>11.2f}{r['achieved']:>14.1f}{r['achieved'] * 1e9 / gemm:>11.0%}"
            f"{r['gflops'] * r['base'] * 1e9 / gemm:>11.0%}"
        )
    print(
        f"\nGEMM (torch.matmul fp32 {GEMM_SIZE}x{GEMM_SIZE}, {torch.get_num_threads()} threads, best of 3, measured "
        f"{len(GEMM_RATES)} times through the run): best {gemm / 1e9:.1f} GFLOP/s (the rate used), median "
        f"{statistics.median(GEMM_RATES) / 1e9:.1f}, worst {min(GEMM_RATES) / 1e9:.1f}.\n"
        "FLOPs: FlopCounterMode on one image, 1 multiply-add = 2 FLOPs; x/GEMM = FLOPs/img x img/s / best GEMM rate."
    )
    failed = False
    for r in rows:
        ok = r["model_diff"] <= 1e-4 and r["model_diff"] <= 1e-4 * r["scale"]
        failed |= not ok
        print(
            f"{r['backbone']}: model path on the baseline's tensors: max |diff| {r['model_diff']:.1e} "
            f"= {r['model_diff'] / r['scale']:.1e} of the largest feature ({r['scale']:.2g}): "
            f"{'ok' if ok else 'ABOVE 1e-4'}\n"
            f"    end to end vs the baseline (draft decode + uint8 tensor resize vs PIL resize): "
            f"relative L2 {r['e2e_rel']:.2%}, min cosine {r['cos_min']:.5f}\n"
            f"    draft decoding alone, {r['draft_n']} images >= 2x input size: relative L2 {r['draft_rel']:.2%}, "
            f"min cosine {r['draft_cos']:.5f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
