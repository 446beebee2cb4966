"""A hand-crafted extractor of colour statistics: how the chroma of an image is distributed.

Generated images tend to have less even colour distributions than photographs ("Secret lies
in color", Jia et al., CVPR 2025: colour quantisation and restoration expose it; Uhlenbrock
et al. 2026: generators' perceptual losses weigh chrominance less than luminance; CHROMA
2026: inter-channel correlations differ). This backbone summarises that cheaply, with no
weights and no training, as a vector a classic classifier reads alone or fused with the
residual backbones (`fusions:` in a grid config):

- chroma histograms: Cb and Cr (BT.601), 16 bins each, log-probabilities;
- chroma moments: standard deviation, skewness and kurtosis of Cb and Cr;
- saturation histogram (max - min of RGB), 8 bins;
- colour-quantisation profile: entropy of the colour histogram with 8, 16 and 32 levels per
  channel, and the mean error of quantising to each (uneven colour = low entropy, small error);
- inter-channel correlations (R-G, R-B, G-B) of the pixels and of their 3x3 high-pass residuals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .registry import register_backbone

if TYPE_CHECKING:
    import torch

COLOR_INPUT_SIZE = 256
CHROMA_BINS = 16
SATURATION_BINS = 8
QUANTISATION_LEVELS = (8, 16, 32)
COLOR_DIM = 2 * CHROMA_BINS + 6 + SATURATION_BINS + 2 * len(QUANTISATION_LEVELS) + 6


def _histogram(values: torch.Tensor, bins: int, low: float, high: float) -> torch.Tensor:
    """(N, bins) log-probabilities of each row of `values` (N, P)."""
    import torch

    index = ((values - low) / (high - low) * bins).long().clamp(0, bins - 1)
    counts = torch.zeros(values.shape[0], bins, dtype=values.dtype, device=values.device)
    counts.scatter_add_(1, index, torch.ones_like(values))
    return torch.log(counts / values.shape[1] + 1e-4)


def _moments(values: torch.Tensor) -> torch.Tensor:
    """(N, 3): log standard deviation, skewness, log-compressed excess kurtosis of each row."""
    import torch

    centred = values - values.mean(dim=1, keepdim=True)
    variance = centred.pow(2).mean(dim=1) + 1e-10
    skew = centred.pow(3).mean(dim=1) / variance.pow(1.5)
    kurtosis = centred.pow(4).mean(dim=1) / variance.pow(2) - 3
    return torch.stack([0.5 * torch.log(variance), skew, torch.sign(kurtosis) * torch.log1p(kurtosis.abs())], dim=1)


def _correlations(channels: torch.Tensor) -> torch.Tensor:
    """(N, 3): Pearson correlation of R-G, R-B, G-B over the pixels of (N, 3, P)."""
    import torch

    centred = channels - channels.mean(dim=2, keepdim=True)
    norm = centred.pow(2).sum(dim=2).sqrt() + 1e-8
    pairs = [(0, 1), (0, 2), (1, 2)]
    return torch.stack([(centred[:, a] * centred[:, b]).sum(dim=1) / (norm[:, a] * norm[:, b]) for a, b in pairs], dim=1)


def color_statistics(images: torch.Tensor) -> torch.Tensor:
    """(N, COLOR_DIM) colour features of RGB images in [0, 1] (N, 3, H, W), any size."""
    import torch
    import torch.nn.functional as F

    images = images.clamp(0, 1)  # decoded pixels are; anything else is read as the nearest colour
    flat = images.flatten(2)
    red, green, blue = flat[:, 0], flat[:, 1], flat[:, 2]
    cb = -0.168736 * red - 0.331264 * green + 0.5 * blue
    cr = 0.5 * red - 0.418688 * green - 0.081312 * blue
    saturation = flat.max(dim=1).values - flat.min(dim=1).values
    parts = [_histogram(cb, CHROMA_BINS, -0.5, 0.5), _histogram(cr, CHROMA_BINS, -0.5, 0.5),
             _moments(cb), _moments(cr), _histogram(saturation, SATURATION_BINS, 0.0, 1.0)]
    for levels in QUANTISATION_LEVELS:
        quantised = (flat * (levels - 1)).round()
        codes = (quantised[:, 0] * levels + quantised[:, 1]) * levels + quantised[:, 2]
        entropy = torch.stack([_entropy(row) for row in codes.long()])
        error = (quantised / (levels - 1) - flat).abs().mean(dim=(1, 2))
        parts += [entropy[:, None], torch.log(error + 1e-6)[:, None]]
    high_pass = images - F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    parts += [_correlations(flat), _correlations(high_pass.flatten(2))]
    return torch.cat(parts, dim=1)


def _entropy(codes: torch.Tensor) -> torch.Tensor:
    import torch

    counts = torch.bincount(codes).float()
    probabilities = counts[counts > 0] / codes.numel()
    return -(probabilities * torch.log2(probabilities)).sum()


@register_backbone(
    input_size=COLOR_INPUT_SIZE,
    embed_dim=COLOR_DIM,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    weights_source="none needed (hand-crafted)",
    needs_weights=False,
)
def color_stats():
    """Chroma distribution, colour-quantisation and inter-channel statistics (see backbones/color.py)."""
    from torch import nn

    class ColorStatistics(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return color_statistics(images)

    return ColorStatistics()
