"""Small trainable patch CNNs on a pixel residual (Approach 1 for generalization, issue 11).

Frozen global features cannot tell a photograph from its own autoencoder reconstruction;
the difference lives in pixel correlations that only a network seeing native-resolution
pixels can learn. These networks therefore

- first take a fixed residual of the input (`residual.RESIDUALS`: NPR up-sampling residual,
  neighbourhood-median deviation, or SRM high-pass), so the scene is removed before learning;
- keep full resolution for their first two convolutions, then halve it per stage;
- are fully convolutional with global average pooling, so they score any crop size (train
  on small random crops, test on larger crops or whole images, never a resize).

Registered as backbones (`patchnet_npr`, `patchnet_median`, `patchnet_srm`; random init, or a
file trained by `finetune`) giving the pooled feature vector. `PatchNet` adds
the two-way head the project's fine-tuning uses: logits (N, 2), softmax[:, 1] = P(fake), and
the same key names as the fine-tuned network (`features.*`, `head.*`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from .registry import read_state_dict
from .patch_sizes import PATCH_WIDTHS
from .residual import RESIDUAL_CHANNELS, RESIDUALS

STEM_WIDTH, STAGE_WIDTHS = PATCH_WIDTHS[""]
"""The widths of the registered sizes live in patch_sizes.PATCH_WIDTHS (name suffix -> widths):
the last width is the feature size the registry declares, which the contract test checks."""
RESIDUAL_GAIN = 10.0
"""Residuals of [0, 1] pixels are a few hundredths; scaling them keeps the first layer's
activations near unit size from the first step."""


def _conv_bn(in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class DownBlock(nn.Module):
    """Residual block that halves the resolution: two 3x3 convolutions beside a strided 1x1."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(in_channels, out_channels, 2), _conv_bn(out_channels, out_channels, relu=False))
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, 2, bias=False), nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class PatchFeatures(nn.Module):
    """Images in [0, 1] (N, 3, H, W) -> pooled residual features (N, STAGE_WIDTHS[-1])."""

    def __init__(self, residual: str, stem_width: int = STEM_WIDTH, stage_widths: tuple[int, ...] = STAGE_WIDTHS):
        super().__init__()
        if residual not in RESIDUALS:
            raise ValueError(f"unknown residual '{residual}'; choose from: {', '.join(RESIDUALS)}")
        self.residual = residual
        self.embed_dim = stage_widths[-1]
        self.stem = nn.Sequential(_conv_bn(RESIDUAL_CHANNELS[residual], stem_width), _conv_bn(stem_width, stem_width))
        widths = (stem_width, *stage_widths)
        self.stages = nn.Sequential(*[DownBlock(a, b) for a, b in zip(widths[:-1], widths[1:])])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        residual = RESIDUALS[self.residual](images) * RESIDUAL_GAIN
        return self.stages(self.stem(residual)).mean(dim=(2, 3))


class PatchNet(nn.Module):
    """Patch features plus a two-way head: logits (N, 2), softmax[:, 1] = P(fake)."""

    def __init__(self, residual: str, size: str = ""):
        super().__init__()
        stem_width, stage_widths = PATCH_WIDTHS[size]
        self.features = PatchFeatures(residual, stem_width, stage_widths)
        self.head = nn.Linear(self.features.embed_dim, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def build_patchnet(residual: str, weights: str | Path = "random", seed: int = 0, size: str = "") -> PatchNet:
    """A PatchNet of a registered `size` (a name suffix of patch_sizes.PATCH_WIDTHS), seeded
    random (the caller's RNG untouched) or loaded strictly from a file."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = PatchNet(residual, size)
    if str(weights) != "random":
        _load_exactly(network, Path(weights))
    return network


def _load_exactly(network: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise WeightsError(f"patch network weights {path} not found (they come from `finetune` or studies/)")
    try:
        network.load_state_dict(read_state_dict(path), strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: does not fit the patch network: {str(exc).strip().splitlines()[0][:300]}") from None


def patch_features(residual: str, weights_file: Path | None = None, size: str = "") -> PatchFeatures:
    """The feature part of a patch network, optionally with trained weights (a features or a
    whole-PatchNet file: `features.*` keys are taken)."""
    stem_width, stage_widths = PATCH_WIDTHS[size]
    features = PatchFeatures(residual, stem_width, stage_widths)
    if weights_file is not None:
        state = read_state_dict(Path(weights_file))
        if any(key.startswith("features.") for key in state):  # a whole PatchNet file
            state = {key[len("features."):]: value for key, value in state.items() if key.startswith("features.")}
        features.load_state_dict(state, strict=True)
    return features
