"""Detector kind "reference": a published detector network (see `backbones.reference_networks`).

Its one logit per image goes through a sigmoid: P(generated), the published reading. The
folder carries the converted weights (safetensors, loaded strictly into the architecture the
manifest names) and, where the exporter can express it, the same network as ONNX. Written by
`convert.checkpoint.make_reference_detector` and by `adapt`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .network import NetworkSection, network_model_kind
from ...backbones.reference_networks import reference_network

if TYPE_CHECKING:
    import numpy as np
    import torch

ONNX_OUTPUT = "probability"


class ReferenceSection(NetworkSection):
    """Its backbone names a reference network."""

    known = staticmethod(reference_network)


def probability_module(network: torch.nn.Module) -> torch.nn.Module:
    """Images -> (N,) P(generated): the network's logit through a sigmoid (what ONNX carries too)."""
    from torch import nn

    class LogitToProbability(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.network = inner

        def forward(self, images):
            return self.network(images).float().reshape(images.shape[0], -1)[:, 0].sigmoid()

    return LogitToProbability(network).eval()


def fake_column(probabilities: np.ndarray) -> np.ndarray:
    """The module's one value per image."""
    return probabilities.reshape(-1)


REFERENCE = network_model_kind(
    "reference", ReferenceSection, lambda section: reference_network(section.backbone["name"]).build("random"), lambda name: name,
    lambda section: f"reference {section.backbone['name']}", probability_module, fake_column, onnx_output=ONNX_OUTPUT,
)
