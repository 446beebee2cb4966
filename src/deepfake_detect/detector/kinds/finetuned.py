"""Detector kind "finetune": a fine-tuned network whose softmax gives P(fake) directly.

Written by the fine-tuning workflow through `detector.folder`; the network class lives in
`backbones.finetuned`, so loading one needs nothing from `finetune`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...backbones import check_arch
from .network import NetworkSection, network_model_kind

if TYPE_CHECKING:
    import numpy as np
    import torch


class FinetunedSection(NetworkSection):
    """Its backbone must be one that can be fine-tuned (the registry knows which, without torch)."""

    known = staticmethod(check_arch)


def probability_module(network: torch.nn.Module) -> torch.nn.Module:
    """What scores and what the folder carries as ONNX: the network, then softmax (as `fake_probability`)."""
    from torch import nn

    return nn.Sequential(network, nn.Softmax(dim=1)).eval()


def fake_column(probabilities: np.ndarray) -> np.ndarray:
    """Column 1 of the softmax: label 1 is "generated"."""
    return probabilities[:, 1]


def _build(section: NetworkSection) -> torch.nn.Module:
    """Random init (nothing downloaded): every weight is then overwritten strictly."""
    from ...backbones.finetuned import build_finetune_network

    return build_finetune_network(section.backbone["name"], "random")


FINETUNED = network_model_kind(
    "finetune", FinetunedSection, _build, lambda name: f"a fine-tuned {name}", lambda section: f"fine-tuned {section.backbone['name']}",
    probability_module, fake_column, onnx_output="probabilities",
)
