"""Simulated generator decoders: downsample 2x, then upsample back the way GAN decoders do,
with a slightly "mis-learned" kernel. The imperfect weights leave the periodic traces
(checkerboards, spectral bumps) that Zhang et al. 2019 and Durall et al. 2020 describe.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .module import ImageGenerator


def bilinear_kernel(size: int = 4) -> torch.Tensor:
    factor = (size + 1) // 2
    center = factor - 0.5
    ramp = 1 - torch.abs(torch.arange(size, dtype=torch.float32) - center) / factor
    return ramp[:, None] * ramp[None, :]


class TransposedConvUpsampler(ImageGenerator):
    """A stride-2 transposed convolution with a perturbed bilinear kernel (checkerboards)."""

    def __init__(self, kernel: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", kernel.expand(3, 1, 4, 4).contiguous())

    @classmethod
    def draw(cls, rng: np.random.Generator) -> TransposedConvUpsampler:
        noise = torch.from_numpy(rng.standard_normal((4, 4))).float()
        return cls(bilinear_kernel(4) * (1 + 0.35 * noise))

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        low = F.avg_pool2d(images, 2)
        return F.conv_transpose2d(low, self.weight, stride=2, padding=1, groups=3)


class UpsampleConv(ImageGenerator):
    """Nearest-neighbour 2x up-sampling, then a random positive 3x3 smoothing kernel."""

    def __init__(self, kernel: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", (kernel / kernel.sum()).expand(3, 1, 3, 3).contiguous())

    @classmethod
    def draw(cls, rng: np.random.Generator) -> UpsampleConv:
        return cls(torch.from_numpy(rng.uniform(0.2, 1.0, (3, 3))).float())

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        low = F.avg_pool2d(images, 2)
        return F.conv2d(F.interpolate(low, scale_factor=2, mode="nearest"), self.weight, padding=1, groups=3)


SIMULATED = {"tconv": TransposedConvUpsampler, "upsample_conv": UpsampleConv}


def draw_simulated(kind: str, rng: np.random.Generator) -> ImageGenerator:
    """A simulated decoder whose kernel is drawn from `rng` (the demo draws one per image)."""
    generator = SIMULATED[kind].draw(rng)
    generator.name = kind
    return generator.eval()
