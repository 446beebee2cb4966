"""The one interface every generator has: RGB in [0, 1] in, its reconstruction out."""

from __future__ import annotations

import torch
from torch import nn

SIDE_MULTIPLE = 8
"""Latent-diffusion autoencoders downsample 8x; one rule for every generator keeps them
interchangeable in the make-fakes workflow."""


class ImageGenerator(nn.Module):
    """Maps images (N, 3, H, W) in [0, 1], H and W multiples of 8, to images of the same shape
    in [0, 1]: the picture as the generator would have drawn it.

    Subclasses implement `reconstruct`; `forward` checks the input so that a wrong size is a
    clear error instead of a silently shifted output.
    """

    name: str = ""
    weights_id: str = ""
    """Where the weights came from (file hashes, or the seed of a random twin): provenance."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        return self.reconstruct(images).clamp(0, 1)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images shaped (N, 3, H, W), got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height % SIDE_MULTIPLE or width % SIDE_MULTIPLE:
        raise ValueError(f"image sides must be multiples of {SIDE_MULTIPLE}, got {height}x{width}")
