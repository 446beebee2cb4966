"""The demo set: real photo crops and "fakes" made from the same crops by a simulated
generator's last stage (downsample, then upsample through a transposed convolution or an
upsample-and-convolve layer).

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
import torch.nn.functional as F
from PIL import Image

PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
    "retina", "camera", "brick", "grass", "gravel", "moon", "coins", "clock",
)
GENERATORS = ("tconv", "upsample_conv")


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


def _bilinear_kernel(size: int = 4) -> torch.Tensor:
    factor = (size + 1) // 2
    center = factor - 0.5
    ramp = 1 - torch.abs(torch.arange(size, dtype=torch.float32) - center) / factor
    return ramp[:, None] * ramp[None, :]


def simulate_generator(crop: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Downsample 2x, then upsample back as a generator decoder would, with a slightly
    "mis-learned" kernel: the imperfect weights are what leave periodic traces."""
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255
    low = F.avg_pool2d(x, 2)
    if kind == "tconv":
        kernel = _bilinear_kernel(4) * (1 + 0.35 * torch.from_numpy(rng.standard_normal((4, 4))).float())
        weight = kernel.expand(3, 1, 4, 4).contiguous()
        up = F.conv_transpose2d(low, weight, stride=2, padding=1, groups=3)
    elif kind == "upsample_conv":
        kernel = torch.from_numpy(rng.uniform(0.2, 1.0, (3, 3))).float()
        weight = (kernel / kernel.sum()).expand(3, 1, 3, 3).contiguous()
        up = F.conv2d(F.interpolate(low, scale_factor=2, mode="nearest"), weight, padding=1, groups=3)
    else:
        raise ValueError(f"unknown simulated generator '{kind}'")
    out = (up.clamp(0, 1) * 255 + 0.5).to(torch.uint8)[0].permute(1, 2, 0)
    return out.numpy()


def make_demo_dataset(
    out_dir: str | Path, per_class: int = 150, size: int = 64, seed: int = 0
) -> Path:
    """Write `out_dir/<generator>/{0_real,1_fake}/*.png`; reuse it when already complete."""
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
