"""Cost of redrawing one real image with each generator: the budget of a make-fakes run.

    .venv/bin/python benchmarks/make_fakes.py [--generators taesd,tconv] [--size 256]
        [--images 8] [--batch-size 4] [--weights FOLDER|random] [--threads T]

Each generator runs in a fresh process (spawned), so its peak memory is its own: the process
decodes nothing (the crops are made beforehand from scikit-image's photographs), builds the
generator (the shared TAESD weights beside the checkout when present, else, and for every
generator whose files are not there such as the full VAEs, random twins: the timing is the same), runs one untimed warm-up batch, then redraws `--images` crops in batches
of `--batch-size` under `torch.inference_mode()`. Reported per image: wall-clock seconds and
CPU seconds (all threads of the process; on a shared machine this is the honest cost, since
the wall clock depends on what else runs), and the process's peak resident memory (ru_maxrss)
before and after the generator ran. PNG encoding is measured separately, once per image.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import resource
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_TAESD = REPO.parent / "shared" / "weights" / "taesd"


def crops(count: int, size: int):
    """Centre-ish crops of several scikit-image photographs (uint8, N x 3 x size x size)."""
    import numpy as np
    import skimage.data
    import torch
    from PIL import Image

    names = ["astronaut", "chelsea", "coffee", "rocket"]
    out = []
    for index in range(count):
        photo = Image.fromarray(getattr(skimage.data, names[index % len(names)])()).convert("RGB")
        scale = max(size / min(photo.size), 1.0)
        if scale > 1:
            photo = photo.resize((round(photo.width * scale) + 1, round(photo.height * scale) + 1))
        shift = 8 * (index // len(names))
        left, top = (photo.width - size) // 2 - shift, (photo.height - size) // 2
        out.append(np.asarray(photo.crop((left, top, left + size, top + size))))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(name: str, weights: str, size: int, images: int, batch_size: int, threads: int | None) -> dict:
    import torch

    from deepfake_detect.errors import WeightsError
    from deepfake_detect.generators import create_generator

    if threads:
        torch.set_num_threads(threads)
    pixels = crops(images, size)
    try:
        network = create_generator(name, weights=weights)
    except WeightsError:  # e.g. a full VAE beside the TAESD folder: its twin costs the same
        network = create_generator(name, weights="random")
    before = max_rss_mb()
    with torch.inference_mode():
        network(pixels[:batch_size].float() / 255)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, images, batch_size):
            out = network(pixels[start : start + batch_size].float() / 255)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "generator": name, "wall": wall / images, "cpu": cpu / images, "rss_before": before,
        "rss_peak": max_rss_mb(), "threads": torch.get_num_threads(), "shape": tuple(out.shape[1:]),
        "weights": network.weights_id.split("+")[0][:24],
    }


def png_seconds(size: int, images: int) -> float:
    from PIL import Image

    pixels = crops(images, size).permute(0, 2, 3, 1).numpy()
    started = time.perf_counter()
    for image in pixels:
        Image.fromarray(image).save(io.BytesIO(), format="PNG")
    return (time.perf_counter() - started) / images


def main() -> None:
    from deepfake_detect.generators import generator_info, list_generators

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generators", default=",".join(list_generators()))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--weights", default=str(SHARED_TAESD) if SHARED_TAESD.is_dir() else "random")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()

    names = [name.strip() for name in args.generators.split(",") if name.strip()]
    for name in names:
        generator_info(name)
    context = multiprocessing.get_context("spawn")
    print(f"{args.images} images of {args.size} px, batches of {args.batch_size}, weights: {args.weights}")
    print(f"{'generator':<15}{'wall s/img':>11}{'CPU s/img':>11}{'RSS before MB':>15}{'peak RSS MB':>13}{'threads':>9}  weights")
    total_cpu = 0.0
    for name in names:
        with context.Pool(1) as pool:
            row = pool.apply(measure, (name, args.weights, args.size, args.images, args.batch_size, args.threads))
        total_cpu += row["cpu"]
        print(
            f"{row['generator']:<15}{row['wall']:>11.3f}{row['cpu']:>11.3f}{row['rss_before']:>15.0f}"
            f"{row['rss_peak']:>13.0f}{row['threads']:>9}  {row['weights']}",
            flush=True,
        )
    print(f"all {len(names)} generators: {total_cpu:.2f} CPU s per source image; "
          f"PNG encoding {png_seconds(args.size, args.images) * 1000:.1f} ms per image")


if __name__ == "__main__":
    main()
