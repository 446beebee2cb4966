"""Pixel residuals: what is left of an image once its local content is predicted away.

Generators leave their traces in the finest pixel correlations (up-sampling layers, decoder
convolutions), which resizing and global features wash out. A residual removes the scene and
keeps those correlations, so it is the input of the low-level networks (patchnet, ferretnet)
and, summarised by a few statistics, a weight-free backbone for the grid's classic
classifiers. Three residuals, one from each line of work:

- `npr`: the image minus its nearest-neighbour down-then-up-sampled self (factor 2): NPR,
  Tan et al., CVPR 2024. An up-sampling layer makes neighbouring pixels alike in a fixed
  2x2 pattern, which this exposes.
- `median`: the image minus the median of each pixel's 3x3 neighbours, centre excluded:
  the local pixel deviation of FerretNet (NeurIPS 2025).
- `srm`: three fixed high-pass filters of steganalysis's spatial rich models (Fridrich and
  Kodovsky, 2012), per colour channel.

All take and return float tensors (N, C, H, W); they work on any size and never resample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .registry import register_backbone

if TYPE_CHECKING:
    import torch

RESIDUAL_INPUT_SIZE = 256
"""Side of the centre crop the residual backbones summarise (no resize: see README)."""
SPECTRUM_BINS = 16
SCALES = (1, 2)
"""The residual is summarised on the image and on its 2x2-averaged version, to tell traces at
the pixel pitch from those of a coarser up-sampling."""
PLAIN_PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def npr_residual(images: torch.Tensor) -> torch.Tensor:
    """Image minus nearest(2x) of nearest(1/2x) of itself; odd sides lose their last row/column."""
    import torch.nn.functional as F

    height, width = images.shape[-2] // 2 * 2, images.shape[-1] // 2 * 2
    images = images[..., :height, :width]
    coarse = F.interpolate(images, scale_factor=0.5, mode="nearest")
    return images - F.interpolate(coarse, scale_factor=2.0, mode="nearest")


def median_residual(images: torch.Tensor) -> torch.Tensor:
    """Image minus the true median of the 8 neighbours of each pixel (edges reflected).

    With 8 values the median is the mean of the 4th and 5th smallest. A sorting network of
    elementwise min/max over 8 shifted copies: several times faster than sorting unfolded
    windows, which matters because it runs on every training batch.
    """
    import torch
    import torch.nn.functional as F

    h, w = images.shape[-2:]
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect")
    values = [padded[..., dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)]
    for i, j in _SORT8:
        values[i], values[j] = torch.minimum(values[i], values[j]), torch.maximum(values[i], values[j])
    return images - 0.5 * (values[3] + values[4])


_SORT8 = (
    (0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (1, 2), (5, 6),
    (0, 4), (3, 7), (1, 5), (2, 6), (1, 4), (3, 6), (2, 4), (3, 5), (3, 4),
)
"""Batcher's odd-even merge sort for 8 values: 19 compare-exchanges (Knuth, TAOCP 5.3.4)."""


def masked_median(images: torch.Tensor) -> torch.Tensor:
    """FerretNet's "median" LPD: zero padding, the centre replaced by 0, median of the 9 values.

    Kept exactly as the published checkpoint was trained with it (it is not the true median
    of the 8 neighbours that `median_residual` computes).
    """
    import torch

    neighbours = _neighbours(images)
    centre = torch.zeros_like(neighbours[:, :, :1])
    nine = torch.cat([neighbours[:, :, :4], centre, neighbours[:, :, 4:]], dim=2)
    return nine.median(dim=2).values.view_as(images)


def _neighbours(images: torch.Tensor) -> torch.Tensor:
    """(N, C, 8, H*W): the 8 neighbours of every pixel in raster order, zero-padded, centre left out."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = images.shape
    windows = F.unfold(images.reshape(n * c, 1, h, w), kernel_size=3, padding=1).view(n, c, 9, h * w)
    keep = torch.arange(9, device=images.device) != 4
    return windows[:, :, keep]


def srm_kernels() -> torch.Tensor:
    """(3, 1, 5, 5): SRM's 'KB' 3x3 square, 'KV' 5x5 square and horizontal 2nd-order edge."""
    import torch

    square3 = torch.tensor([[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]]) / 4
    square5 = torch.tensor(
        [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]
    ) / 12
    edge = torch.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]) / 2
    return torch.stack([square3, square5, edge]).float().unsqueeze(1)


def srm_residual(images: torch.Tensor) -> torch.Tensor:
    """(N, 3*C, H, W): the three SRM filters on each colour channel (edges reflected)."""
    import torch.nn.functional as F

    n, c, h, w = images.shape
    kernels = srm_kernels().to(images)
    padded = F.pad(images.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode="reflect")
    return F.conv2d(padded, kernels).reshape(n, 3 * c, h, w)


RESIDUALS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "npr": npr_residual,
    "median": median_residual,
    "srm": srm_residual,
}
RESIDUAL_CHANNELS = {"npr": 3, "median": 3, "srm": 9}


def radial_spectrum(residual: torch.Tensor, bins: int = SPECTRUM_BINS) -> torch.Tensor:
    """(N, bins): log power of the channel-averaged residual, averaged over rings of frequency.

    Rings are in normalised frequency (0 to the Nyquist corner), so any size gives the same bins.
    """
    import torch

    gray = residual.mean(dim=1)
    h, w = gray.shape[-2:]
    power = torch.log1p(torch.fft.fft2(gray, norm="ortho").abs() ** 2 * 1e4).flatten(1)
    fy = torch.fft.fftfreq(h, device=gray.device).abs()[:, None]
    fx = torch.fft.fftfreq(w, device=gray.device).abs()[None, :]
    radius = torch.sqrt(fy**2 + fx**2) / (0.5 * 2**0.5)
    ring = (radius * bins).long().clamp(max=bins - 1).flatten()
    counts = torch.bincount(ring, minlength=bins).clamp(min=1).to(power)
    sums = torch.zeros(gray.shape[0], bins, device=gray.device, dtype=power.dtype).index_add_(1, ring, power)
    return sums / counts


def residual_statistics(residual: torch.Tensor) -> torch.Tensor:
    """(N, 3*C): per channel the standard deviation, mean absolute value and excess kurtosis
    (log-compressed), which together describe how heavy-tailed the residual is."""
    import torch

    flat = residual.flatten(2)
    centred = flat - flat.mean(dim=2, keepdim=True)
    variance = centred.pow(2).mean(dim=2)
    kurtosis = centred.pow(4).mean(dim=2) / (variance.pow(2) + 1e-12) - 3.0
    spread = torch.log(variance.sqrt() + 1e-6)
    mean_abs = torch.log(flat.abs().mean(dim=2) + 1e-6)
    return torch.cat([spread, mean_abs, torch.sign(kurtosis) * torch.log1p(kurtosis.abs())], dim=1)


def summary_dim(kind: str) -> int:
    """Length of the vector a residual backbone gives: statistics plus spectrum per scale."""
    return len(SCALES) * (3 * RESIDUAL_CHANNELS[kind] + SPECTRUM_BINS)


def _summary_module(kind: str):
    import torch
    import torch.nn.functional as F
    from torch import nn

    residual_of = RESIDUALS[kind]

    class Summary(nn.Module):
        """Images in [0, 1] -> the residual's statistics and spectrum at each scale."""

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            parts = []
            for scale in SCALES:
                scaled = images if scale == 1 else F.avg_pool2d(images, scale)
                residual = residual_of(scaled)
                parts += [residual_statistics(residual), radial_spectrum(residual)]
            return torch.cat(parts, dim=1)

    Summary.__name__ = f"{kind.capitalize()}ResidualSummary"
    return Summary()


def _register_summary(kind: str, about: str) -> None:
    def factory():
        return _summary_module(kind)

    factory.__name__ = f"{kind}_residual"
    factory.__doc__ = about
    register_backbone(
        input_size=RESIDUAL_INPUT_SIZE,
        embed_dim=summary_dim(kind),
        weights_source="none needed (hand-crafted)",
        needs_weights=False,
        **PLAIN_PIXELS,
    )(factory)


_register_summary("npr", "Statistics of the NPR up-sampling residual (Tan et al., CVPR 2024).")
_register_summary("median", "Statistics of FerretNet's neighbourhood-median residual.")
_register_summary("srm", "Statistics of three SRM high-pass residuals per channel.")
