"""Detector kind "finetune": a fine-tuned network whose softmax gives P(fake) directly.

Written by the fine-tuning workflow through `detector.folder`; the network class lives in
`backbones.finetuned`, so loading one needs nothing from `finetune`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

from ..errors import DetectorError, UnknownNameError
from ..inference.session import OnnxNetwork
from .manifest import ONNX_FILE
from .model import ModelKind

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .manifest import Manifest

WEIGHTS_FILE = "model.safetensors"


class FinetunedSection(BaseModel):
    """The manifest fields only this kind has: its backbone must be one that can be fine-tuned
    (the backbone registry knows which, without importing torch)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    backbone: dict

    @field_validator("backbone")
    @classmethod
    def _fine_tunable(cls, value: dict) -> dict:
        from ..backbones import check_arch

        try:
            check_arch(str(value.get("name")))
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        return value


class FinetunedModel:
    """The network on `device`, and the manifest's preprocessing."""

    def __init__(self, network: torch.nn.Module, manifest: Manifest, device: torch.device):

        self.device = device
        self.network = network.to(device).eval()
        self.to_tensor = manifest.preprocess.preprocessing().tensor_transform
        self.draft_size = manifest.preprocess.preprocessing().draft_size

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        import numpy as np
        import torch

        from ..backbones.finetuned import fake_probability

        with torch.inference_mode():
            logits = self.network(tensors.to(self.device))
            return fake_probability(logits).cpu().numpy().astype(np.float64)


class OnnxFinetunedModel:
    """The exported network + softmax on ONNX Runtime (no torch): column 1 is P(fake)."""

    def __init__(self, network: OnnxNetwork, manifest: Manifest):
        self.network = network
        self.to_tensor = manifest.preprocess.preprocessing().array_transform
        self.draft_size = manifest.preprocess.preprocessing().draft_size

    def score_tensors(self, arrays: np.ndarray) -> np.ndarray:
        import numpy as np

        return self.network(arrays)[:, 1].astype(np.float64)


def probability_module(network: torch.nn.Module) -> torch.nn.Module:
    """What the folder carries as ONNX: the network, then softmax (as `fake_probability`)."""
    from torch import nn

    return nn.Sequential(network, nn.Softmax(dim=1)).eval()


def _load_onnx(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], threads: int | None) -> OnnxFinetunedModel:
    return OnnxFinetunedModel(OnnxNetwork(files[manifest.onnx.file], threads, manifest.onnx.file), manifest)


def _load(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], device: torch.device) -> FinetunedModel:
    """Built without downloading anything (random init), then every weight is overwritten strictly."""
    from safetensors.torch import load as load_safetensors

    from ..backbones.finetuned import build_finetune_network

    network = build_finetune_network(manifest.backbone.name, "random")
    try:
        network.load_state_dict(load_safetensors(files[WEIGHTS_FILE]), strict=True)
    except Exception as exc:  # safetensors header errors, missing or unexpected keys, wrong shapes
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DetectorError(f"{WEIGHTS_FILE}: does not fit a fine-tuned {manifest.backbone.name}: {first}") from None
    return FinetunedModel(network, manifest, device)


FINETUNED = ModelKind(
    "finetune",
    (WEIGHTS_FILE, ONNX_FILE),
    FinetunedSection,
    lambda manifest: [WEIGHTS_FILE],
    _load,
    lambda manifest, section: f"fine-tuned {manifest.backbone.name}",
    load_onnx=_load_onnx,
    exportable=lambda model: probability_module(model.network),
    onnx_output="probabilities",
)
