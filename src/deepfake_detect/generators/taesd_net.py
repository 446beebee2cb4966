"""The Tiny AutoEncoder (TAESD) architecture, by Ollin Boer Bohan (github.com/madebyollin/taesd,
MIT), written from its published description so that the official weights load key for key.

Encoder and decoder are plain `nn.Sequential`s: their state-dict keys are the sequence
indices (`0.weight`, `1.conv.0.weight`, ...), which is what the weights files contain.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .module import ImageGenerator
from .weights import load_exact

WIDTH = 64


def conv3x3(channels_in: int, channels_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, 3, padding=1, **kwargs)


class SoftClamp(nn.Module):
    """Keeps latents within about +-3 smoothly, as the decoder was trained to expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


def global_branch(channels: int) -> nn.Sequential:
    """The FLUX.2 variant's pooling branch: a wide 1x1 bottleneck with group normalisation,
    applied before the deepest blocks' convolutions and added to their input."""
    wide = channels * 4
    return nn.Sequential(
        nn.Conv2d(channels, wide, 1, bias=False), nn.GroupNorm(4, wide), nn.ReLU(), nn.Conv2d(wide, channels, 1, bias=False)
    )


class Block(nn.Module):
    """Three 3x3 convolutions with ReLUs between them plus a skip, fused by a ReLU."""

    def __init__(self, channels_in: int, channels_out: int, global_mix: bool = False):
        super().__init__()
        self.conv = nn.Sequential(
            conv3x3(channels_in, channels_out), nn.ReLU(),
            conv3x3(channels_out, channels_out), nn.ReLU(),
            conv3x3(channels_out, channels_out),
        )
        self.skip = nn.Conv2d(channels_in, channels_out, 1, bias=False) if channels_in != channels_out else nn.Identity()
        self.fuse = nn.ReLU()
        self.pool = global_branch(channels_in) if global_mix else None  # keys `N.pool.0.weight`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def encoder(latent_channels: int, global_mix: bool = False) -> nn.Sequential:
    """Image (3 channels) to latent (1/8 of each side)."""
    layers: list[nn.Module] = [conv3x3(3, WIDTH), Block(WIDTH, WIDTH)]
    for stage in range(3):
        deepest = stage == 2
        layers.append(conv3x3(WIDTH, WIDTH, stride=2, bias=False))
        layers.extend(Block(WIDTH, WIDTH, global_mix and deepest) for _ in range(3))
    layers.append(conv3x3(WIDTH, latent_channels))
    return nn.Sequential(*layers)


def decoder(latent_channels: int, global_mix: bool = False) -> nn.Sequential:
    """Latent back to an image, through three nearest-neighbour 2x up-samplings."""
    layers: list[nn.Module] = [SoftClamp(), conv3x3(latent_channels, WIDTH), nn.ReLU()]
    for stage in range(3):
        deepest = stage == 0
        layers.extend(Block(WIDTH, WIDTH, global_mix and deepest) for _ in range(3))
        layers.extend([nn.Upsample(scale_factor=2), conv3x3(WIDTH, WIDTH, bias=False)])
    layers.extend([Block(WIDTH, WIDTH), conv3x3(WIDTH, 3)])
    return nn.Sequential(*layers)


class TinyAutoencoder(ImageGenerator):
    """Encode to a latent-diffusion model's latent space and decode back: the reconstruction
    carries the decoder's traces and (nearly) nothing else of the source changes."""

    def __init__(self, latent_channels: int, global_mix: bool = False):
        super().__init__()
        self.encoder = encoder(latent_channels, global_mix)
        self.decoder = decoder(latent_channels, global_mix)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def load_files(self, files: Mapping[str, Path], encoder_stem: str, decoder_stem: str) -> TinyAutoencoder:
        load_exact(files, {encoder_stem: self.encoder, decoder_stem: self.decoder})
        return self
