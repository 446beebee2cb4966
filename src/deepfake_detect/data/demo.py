"""The demo set: real photo crops and "fakes" made from the same crops by a simulated
generator's last stage (downsample, then upsample through a transposed convolution or an
upsample-and-convolve layer; the simulations live in `generators.simulated_net`, where the
make-fakes workflow uses them too).

Zhang et al. 2019 ("Detecting and Simulating Artifacts in GAN Fake Images") and Durall et al.
2020 ("Watch your Up-Convolution") show that these decoder stages leave checkerboard patterns
and spectral bumps. Real and fake share content and differ only in those traces, so a detector
that works here has found the traces, not the subject. The photographs ship inside
scikit-image, so the demo needs no download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image

from ..generators.simulated_net import SIMULATED, draw_simulated

PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
    "retina", "camera", "brick", "grass", "gravel", "moon", "coins", "clock",
)
GENERATORS = tuple(SIMULATED)  # ("tconv", "upsample_conv")


def _photos() -> list[np.ndarray]:
    photos = []
    for name in PHOTOS:
        pixels = getattr(skimage.data, name)()
        if pixels.ndim == 2:
            pixels = np.stack([pixels] * 3, axis=-1)
        photos.append(np.ascontiguousarray(pixels[..., :3], dtype=np.uint8))
    return photos


def _crops(count: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    photos = _photos()
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        top = rng.integers(photo.shape[0] - size + 1)
        left = rng.integers(photo.shape[1] - size + 1)
        crop = photo[top : top + size, left : left + size]
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return crops


def simulate_generator(crop: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """One crop through a simulated decoder whose kernel is drawn anew from `rng`: each demo
    fake comes from a slightly different "mis-learned" up-sampler (generators.simulated_net)."""
    if kind not in SIMULATED:
        raise ValueError(f"unknown simulated generator '{kind}'")
    generator = draw_simulated(kind, rng)
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        out = (generator(x) * 255 + 0.5).to(torch.uint8)[0].permute(1, 2, 0)
    return out.numpy()


def make_demo_dataset(
    out_dir: str | Path, per_class: int = 150, size: int = 64, seed: int = 0
) -> Path:
    """Write `out_dir/<generator>/{0_real,1_fake}/*.png`; reuse it when already complete.

    `size` must be a multiple of 8, like every generator's input.
    """
    out_dir = Path(out_dir)
    marker = out_dir / f".complete-{per_class}-{size}-{seed}"
    if marker.exists():
        return out_dir
    rng = np.random.default_rng(seed)
    for generator in GENERATORS:
        real_dir, fake_dir = out_dir / generator / "0_real", out_dir / generator / "1_fake"
        real_dir.mkdir(parents=True, exist_ok=True)
        fake_dir.mkdir(parents=True, exist_ok=True)
        for index, crop in enumerate(_crops(per_class, size, rng)):
            Image.fromarray(crop).save(real_dir / f"{index:05d}.png")
            Image.fromarray(simulate_generator(crop, generator, rng)).save(fake_dir / f"{index:05d}.png")
    marker.touch()
    return out_dir
