"""Detector kind "reference": a published detector network (see `detector.references`).

Its one logit per image goes through a sigmoid: P(generated), the published reading. The
folder carries the converted weights (safetensors, loaded strictly into the architecture the
manifest names) and, where the exporter can express it, the same network as ONNX. Written by
`detector.reference.make_reference_detector` and by `adapt`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..inference.session import OnnxNetwork
from .manifest import ONNX_FILE
from .model import ModelKind
from .network_kind import NetworkModel, NetworkSection, OnnxNetworkModel, load_strictly
from .references import reference_network

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .manifest import Manifest

WEIGHTS_FILE = "model.safetensors"
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


def network_from_bytes(name: str, weights: bytes) -> torch.nn.Module:
    """The reference network `name` with every weight from safetensors `weights` (strict)."""
    return load_strictly(reference_network(name).build("random"), weights, WEIGHTS_FILE, name)


def _load(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], device: torch.device) -> NetworkModel:
    network = network_from_bytes(manifest.backbone.name, files[WEIGHTS_FILE])
    return NetworkModel(network, probability_module, fake_column, manifest, device)


def _load_onnx(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], threads: int | None) -> OnnxNetworkModel:
    return OnnxNetworkModel(OnnxNetwork(files[manifest.onnx.file], threads, manifest.onnx.file), fake_column, manifest)


REFERENCE = ModelKind(
    "reference",
    (WEIGHTS_FILE, ONNX_FILE),
    ReferenceSection,
    lambda manifest: [WEIGHTS_FILE],
    _load,
    lambda manifest, section: f"reference {manifest.backbone.name}",
    load_onnx=_load_onnx,
    exportable=lambda model: model.module,
    onnx_output=ONNX_OUTPUT,
)
