"""The fine-tuned network: a registered backbone with a two-class head.

It lives beside the other backbones (not in `finetune`) because two layers need it: the
fine-tuning workflow trains it, and a detector folder of kind "finetune" rebuilds it to
score images. The backbone comes from the same registry as the feature grid, so both
approaches start from identical pretrained weights and differ only in what is trained.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from . import BackboneInfo, create_backbone
from .registry import check_arch


class FinetuneNetwork(nn.Module):
    """Images -> logits (N, 2); softmax(logits)[:, 1] is the probability of "fake"."""

    def __init__(self, features: nn.Module, info: BackboneInfo):
        super().__init__()
        self.features = features
        self.head = nn.Linear(info.embed_dim, 2)
        self.info = info

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).flatten(1))


def build_finetune_network(arch: str, weights: str | Path = "pretrained", seed: int = 0) -> FinetuneNetwork:
    """The backbone `arch` with `weights` ("pretrained", "random" or a file) and a fresh head.

    Built under a forked RNG seeded with `seed`: the head (and a random backbone) are the same
    on every call, and the caller's random stream is left as it was.
    """
    check_arch(arch)
    with torch.random.fork_rng(devices=[]):
        backbone = create_backbone(arch, weights, seed=seed)
        torch.manual_seed(seed)
        return FinetuneNetwork(backbone.network, backbone.info).train()


def fake_probability(logits: torch.Tensor) -> torch.Tensor:
    """P(fake) from the network's two logits."""
    return torch.softmax(logits.float(), dim=1)[:, 1]


def state_for_saving(network: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies: safetensors refuses strided views and shared storage."""
    return {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in network.state_dict().items()}


def weights_bytes(network: nn.Module) -> bytes:
    """The network's weights as safetensors bytes (nothing in them can run code when read)."""
    from safetensors.torch import save

    return save(state_for_saving(network))
