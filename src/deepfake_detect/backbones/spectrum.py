"""A hand-crafted extractor: the azimuthally averaged power spectrum (Durall et al., 2020).

Up-convolutions in generator decoders leave periodic traces that show as bumps at high
spatial frequencies; averaging the log power over rings turns that into a short vector.
It needs no weights, so it is the cheapest baseline and a check on what networks learn.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_backbone

SPECTRUM_SIZE = 224


class AzimuthalSpectrum(nn.Module):
    def __init__(self, size: int = SPECTRUM_SIZE):
        super().__init__()
        coords = torch.arange(size) - size // 2
        radius = torch.sqrt(coords[:, None].float() ** 2 + coords[None, :].float() ** 2).round().long()
        radius = radius.clamp(max=size // 2 - 1)
        self.bins = size // 2
        self.register_buffer("radius", radius.flatten(), persistent=False)
        self.register_buffer("counts", torch.bincount(radius.flatten(), minlength=self.bins).float(), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        gray = images.mean(dim=1)
        spectrum = torch.fft.fftshift(torch.fft.fft2(gray), dim=(-2, -1))
        power = torch.log1p(spectrum.abs() ** 2).flatten(1)
        rings = torch.zeros(images.shape[0], self.bins, device=images.device, dtype=power.dtype)
        rings.index_add_(1, self.radius, power)
        profile = rings / self.counts
        # Scale-free shape: the traces live in the profile's form, not in overall brightness.
        return (profile - profile.mean(dim=1, keepdim=True)) / (profile.std(dim=1, keepdim=True) + 1e-6)


@register_backbone(
    input_size=SPECTRUM_SIZE,
    embed_dim=SPECTRUM_SIZE // 2,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    weights_source="none needed (hand-crafted)",
    needs_weights=False,
)
def fft_spectrum() -> nn.Module:
    return AzimuthalSpectrum()
