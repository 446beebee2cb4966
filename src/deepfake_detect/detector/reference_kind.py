"""Detector kind "reference": a published detector network (see `detector.references`).

Its one logit per image goes through a sigmoid: P(generated), the published reading. The
folder carries the converted weights (safetensors, loaded strictly into the architecture the
manifest names) and, where the exporter can express it, the same network as ONNX. Written by
`detector.reference.make_reference_detector` and by `adapt`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

from ..errors import DetectorError, UnknownNameError
from ..inference.session import OnnxNetwork
from .manifest import ONNX_FILE
from .model import ModelKind
from .references import reference_network

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .manifest import Manifest

WEIGHTS_FILE = "model.safetensors"
ONNX_OUTPUT = "probability"


class ReferenceSection(BaseModel):
    """The manifest fields only this kind has: its backbone names a reference network."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    backbone: dict

    @field_validator("backbone")
    @classmethod
    def _reference(cls, value: dict) -> dict:
        try:
            reference_network(str(value.get("name")))
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        return value


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


class ReferenceModel:
    """The network on `device` with the manifest's preprocessing."""

    def __init__(self, network: torch.nn.Module, manifest: Manifest, device: torch.device):
        self.device = device
        self.network = network.to(device).eval()
        self.module = probability_module(self.network)
        self.to_tensor = manifest.preprocess.preprocessing().tensor_transform
        self.draft_size = manifest.preprocess.preprocessing().draft_size

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        import numpy as np
        import torch

        with torch.inference_mode():
            return self.module(tensors.to(self.device)).cpu().numpy().astype(np.float64)


class OnnxReferenceModel:
    """The exported network + sigmoid on ONNX Runtime (no torch)."""

    def __init__(self, network: OnnxNetwork, manifest: Manifest):
        self.network = network
        self.to_tensor = manifest.preprocess.preprocessing().array_transform
        self.draft_size = manifest.preprocess.preprocessing().draft_size

    def score_tensors(self, arrays: np.ndarray) -> np.ndarray:
        import numpy as np

        return self.network(arrays).reshape(-1).astype(np.float64)


def network_from_bytes(name: str, weights: bytes) -> torch.nn.Module:
    """The reference network `name` with every weight from safetensors `weights` (strict)."""
    from safetensors.torch import load as load_safetensors

    network = reference_network(name).build("random")
    try:
        network.load_state_dict(load_safetensors(weights), strict=True)
    except Exception as exc:  # safetensors header errors, missing or unexpected keys, wrong shapes
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DetectorError(f"{WEIGHTS_FILE}: does not fit {name}: {first}") from None
    return network.eval()


def _load(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], device: torch.device) -> ReferenceModel:
    return ReferenceModel(network_from_bytes(manifest.backbone.name, files[WEIGHTS_FILE]), manifest, device)


def _load_onnx(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], threads: int | None) -> OnnxReferenceModel:
    return OnnxReferenceModel(OnnxNetwork(files[manifest.onnx.file], threads, manifest.onnx.file), manifest)


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
