"""FerretNet-S, a published reference detector (Apache-2.0), to compare our own networks with.

FerretNet (NeurIPS 2025; GitHub xigua7105/FerretNet) scores the local pixel deviation: the
image minus a 3x3 neighbourhood median, fed to a small CNN of dilated depthwise blocks that
ends in one logit (sigmoid > 0.5 = generated). The "S" checkpoint has 126 k parameters and was
trained from scratch on ProGAN images. This module re-describes the architecture with the
checkpoint's key names, so the published file loads strictly (every key, every shape).

Preprocessing is part of the detector, not a choice: a 256 px centre crop, never a resize
(smaller images are zero-padded, as torchvision's CenterCrop does), then CLIP's mean/std.
It reads traces that JPEG compression erases: measure it on format-matched data only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import WeightsError
from .registry import read_state_dict
from .residual import masked_median

if TYPE_CHECKING:
    from PIL import Image

FERRET_CROP = 256
FERRET_MEAN = (0.48145466, 0.4578275, 0.40821073)
FERRET_STD = (0.26862954, 0.26130258, 0.27577711)
FERRET_SOURCE = (
    "ferretnet-s-median-3.pth from github.com/xigua7105/FerretNet (checkpoints/4cls_ckpt/), Apache-2.0"
)


class SeparableConv(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.depth_wise = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False)
        self.point_wise = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_wise(self.depth_wise(x))


class DilatedPair(nn.Module):
    """Two depthwise 3x3 convolutions (dilation 1 and 2) summed, then a 1x1 mix."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, groups=in_channels, bias=False)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, stride, 2, dilation=2, groups=in_channels, bias=False)
        self.conv3 = nn.Conv2d(out_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv1(x) + self.conv2(x))


class FerretBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.layers = nn.Sequential(
            DilatedPair(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            SeparableConv(out_channels),
            nn.BatchNorm2d(out_channels),
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.layers(x) + self.shortcut(x))


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)
    )


class FerretNet(nn.Module):
    """Normalised images (N, 3, H, W) -> one logit each; sigmoid is the probability of "generated"."""

    def __init__(self, dim: int = 32, depths: tuple[int, ...] = (2, 2)):
        super().__init__()
        self.cbr1 = _conv_bn_relu(3, dim // 2, 1)
        self.cbr2 = _conv_bn_relu(dim // 2, dim, 2)
        self.feature = nn.Sequential()
        for depth in depths:
            stage = [FerretBlock(dim, dim * 2, 2)] + [FerretBlock(dim * 2, dim * 2, 1) for _ in range(depth - 1)]
            self.feature.append(nn.Sequential(*stage))
            dim *= 2
        self.feature.append(nn.Conv2d(dim, dim, 1, bias=False))
        self.logit = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        deviation = images - masked_median(images)
        features = self.feature(self.cbr2(self.cbr1(deviation)))
        return self.logit(features.mean(dim=(2, 3)))


def build_ferretnet(weights: str | Path = "random", seed: int = 0) -> FerretNet:
    """FerretNet-S in eval mode, from a checkpoint (.pth or .safetensors) or "random" (seeded).

    Loading is strict: a file missing any key or holding another shape is a WeightsError.
    """
    if str(weights) == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return FerretNet().eval()
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"FerretNet weights {path} not found (source: {FERRET_SOURCE})")
    network = FerretNet()
    try:
        network.load_state_dict(read_state_dict(path), strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0][:300]
        raise WeightsError(f"{path}: does not fit FerretNet-S: {first_line}") from None
    return network.eval()


def ferret_tensor(image: Image.Image) -> torch.Tensor:
    """One RGB image -> the (3, 256, 256) normalised tensor FerretNet-S was tested with."""
    from torchvision.transforms import functional as TF

    cropped = TF.center_crop(image, [FERRET_CROP, FERRET_CROP])
    return TF.normalize(TF.to_tensor(cropped), FERRET_MEAN, FERRET_STD)


@torch.no_grad()
def ferret_fake_probability(network: FerretNet, batch: torch.Tensor) -> torch.Tensor:
    """(N,) probability that each image of a normalised batch (see `ferret_tensor`) is generated."""
    network.eval()
    return torch.sigmoid(network(batch).float().squeeze(1))
