"""The built network types (imported when a backbone is built, not when names are listed)."""

from __future__ import annotations

import torch
from torch import nn

from .registry import BackboneInfo


class Backbone(nn.Module):
    """A feature extractor plus what identifies its features in a cache."""

    def __init__(self, info: BackboneInfo, network: nn.Module, weights_id: str):
        super().__init__()
        self.info = info
        self.network = network
        self.weights_id = weights_id

    @property
    def name(self) -> str:
        return self.info.name

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images).flatten(1)


class PooledFeatures(nn.Module):
    """A network's final feature map, globally average-pooled: what its ImageNet head reads."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.extract_features(images).mean(dim=(2, 3))

    def stage_outputs(self, images: torch.Tensor, stages: tuple[int, ...]) -> list[torch.Tensor]:
        """Feature maps after the stem (0), each of the MBConv stages (1-7 for Lite0) and the head
        convolution (the last), for `stages` in ascending order; stops after the last one asked."""
        net = self.network
        x = net._swish(net._bn0(net._conv_stem(images)))
        outputs = [x] if 0 in stages else []
        stage, index = 1, 0
        while index < len(net._blocks) and len(outputs) < len(stages):
            for block in net._blocks[index : index + net._blocks[index]._block_args.num_repeat]:
                x = block(x)  # eval mode: no drop-connect
            index += net._blocks[index]._block_args.num_repeat
            if stage in stages:
                outputs.append(x)
            stage += 1
        if len(outputs) < len(stages):
            outputs.append(net._swish(net._bn1(net._conv_head(x))))
        return outputs


class AzimuthalSpectrum(nn.Module):
    """Log power spectrum averaged over rings of equal spatial frequency, standardised."""

    def __init__(self, size: int):
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
