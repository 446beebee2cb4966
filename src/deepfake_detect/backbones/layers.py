"""Intermediate layers of a deep backbone as features: `efficientnet_lite0@blocks=2,4,last`.

Early blocks see textures, noise and up-sampling patterns at a fine scale, which the final,
semantic layer of an ImageNet network has largely discarded; generated-image detectors built on
intermediate layers generalise better across generators (e.g. Koutlis and Papadopoulos, RINE,
ECCV 2024). Each selected block's feature map becomes its channels' mean and standard deviation
over space (for a ViT, over its patch tokens): 2 x channels values per block, concatenated in
network order. The population standard deviation is used, so a 1 x 1 map gives 0, not NaN.

Blocks are numbered from 0 as timm's `feature_info` numbers them: a ResNet's 0 is its stem and
1-4 its `layer1`-`layer4`; a ViT's 0-11 are its transformer blocks; EfficientNet-Lite's 0 is
its stem, 1-7 its seven MBConv stages and 8 its 1x1 head convolution. Specs are parsed in one
place, `registry.backbone_info`.
"""

from __future__ import annotations

import torch
from torch import nn


class BlockStatistics(nn.Module):
    """A backbone network -> per selected block, channel-wise mean and std over space."""

    def __init__(self, network: nn.Module, blocks: tuple[int, ...]):
        super().__init__()
        self.network = network
        self.blocks = tuple(blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        parts = []
        for feature_map in block_outputs(self.network, images, self.blocks):
            parts += [feature_map.mean(dim=(2, 3)), feature_map.std(dim=(2, 3), correction=0)]
        return torch.cat(parts, dim=1)


def block_outputs(network: nn.Module, images: torch.Tensor, blocks: tuple[int, ...]) -> list[torch.Tensor]:
    """The (N, C, H, W) outputs of `blocks` (ascending) of an EfficientNet-Lite or a timm model.
    (Duck-typed: importing `module` here would close an import cycle through the registry.)"""
    if hasattr(network, "stage_outputs"):  # module.PooledFeatures: EfficientNet-Lite
        return network.stage_outputs(images, blocks)
    # timm: ResNets and ViTs alike (a ViT's patch tokens come back as an NCHW map)
    return network.forward_intermediates(images, indices=list(blocks), intermediates_only=True)
