"""The shortcut guard: does anything but the pixels' content tell real from fake?

If every real image is a JPEG and every fake a PNG, or the classes differ in JPEG quality or
resolution, a detector can score perfectly by learning the container, and fail on the first
real-world image. This compares the classes on those properties before any training.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.datasets import FAKE, REAL, Dataset

# libjpeg's standard luminance table at quality 50; a file's table, scaled, gives its quality.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
])


def jpeg_quality(img: Image.Image) -> float | None:
    """Estimate the libjpeg quality setting from the luminance quantisation table."""
    tables = getattr(img, "quantization", None)
    if not tables or 0 not in tables:
        return None
    # Sums, not element ratios: independent of zigzag vs natural table order.
    scale = float(np.sum(tables[0])) / float(_STD_LUMA.sum()) * 100
    quality = 100 - scale / 2 if scale <= 100 else 5000 / scale
    return float(np.clip(quality, 1, 100))


def _describe(paths: list[Path]) -> dict:
    formats: Counter[str] = Counter()
    qualities, widths, heights, bytes_per_pixel = [], [], [], []
    for path in paths:
        try:
            with Image.open(path) as img:
                formats[img.format or "?"] += 1
                widths.append(img.width)
                heights.append(img.height)
                bytes_per_pixel.append(path.stat().st_size / max(img.width * img.height, 1))
                if img.format == "JPEG" and (q := jpeg_quality(img)) is not None:
                    qualities.append(q)
        except Exception:
            continue  # unreadable files are reported by extraction, not here
    total = max(sum(formats.values()), 1)
    return {
        "formats": {k: v / total for k, v in formats.items()},
        "jpeg_quality": float(np.median(qualities)) if qualities else None,
        "width": float(np.median(widths)) if widths else None,
        "height": float(np.median(heights)) if heights else None,
        "bytes_per_pixel": float(np.median(bytes_per_pixel)) if bytes_per_pixel else None,
    }


def shortcut_warnings(dataset: Dataset, sample: int = 200, seed: int = 0) -> list[str]:
    """One sentence per property on which real and fake images differ enough to be learned."""
    rng = random.Random(seed)
    groups = {}
    for label in (REAL, FAKE):
        paths = [r.path for r in dataset.records if r.label == label]
        groups[label] = _describe(rng.sample(paths, min(sample, len(paths))))
    real, fake = groups[REAL], groups[FAKE]
    found = []
    shares = {k: (real["formats"].get(k, 0), fake["formats"].get(k, 0)) for k in {*real["formats"], *fake["formats"]}}
    if any(abs(r - f) > 0.2 for r, f in shares.values()):
        found.append(f"file formats differ: real {_pct(real['formats'])} vs fake {_pct(fake['formats'])}")
    if real["jpeg_quality"] and fake["jpeg_quality"] and abs(real["jpeg_quality"] - fake["jpeg_quality"]) > 5:
        found.append(f"JPEG quality differs: real ~{real['jpeg_quality']:.0f} vs fake ~{fake['jpeg_quality']:.0f}")
    for side in ("width", "height"):
        r, f = real[side], fake[side]
        if r and f and abs(r - f) / max(r, f) > 0.1:
            found.append(f"median {side} differs: real {r:.0f}px vs fake {f:.0f}px")
    return [f"dataset '{dataset.name}': {text} (a detector can learn this instead of the image)" for text in found]


def _pct(shares: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
