"""Detector kind "finetune": a fine-tuned network whose softmax gives P(fake) directly.

Written by the fine-tuning workflow through `detector.folder`; the network class lives in
`backbones.finetuned`, so loading one needs nothing from `finetune`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..backbones import check_arch
from ..inference.session import OnnxNetwork
from .manifest import ONNX_FILE
from .model import ModelKind
from .network_kind import NetworkModel, NetworkSection, OnnxNetworkModel, load_strictly

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .manifest import Manifest

WEIGHTS_FILE = "model.safetensors"


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


def _load_onnx(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], threads: int | None) -> OnnxNetworkModel:
    return OnnxNetworkModel(OnnxNetwork(files[manifest.onnx.file], threads, manifest.onnx.file), fake_column, manifest)


def _load(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], device: torch.device) -> NetworkModel:
    """Built without downloading anything (random init), then every weight is overwritten strictly."""
    from ..backbones.finetuned import build_finetune_network

    name = manifest.backbone.name
    network = load_strictly(build_finetune_network(name, "random"), files[WEIGHTS_FILE], WEIGHTS_FILE, f"a fine-tuned {name}")
    return NetworkModel(network, probability_module, fake_column, manifest, device)


FINETUNED = ModelKind(
    "finetune",
    (WEIGHTS_FILE, ONNX_FILE),
    FinetunedSection,
    lambda manifest: [WEIGHTS_FILE],
    _load,
    lambda manifest, section: f"fine-tuned {manifest.backbone.name}",
    load_onnx=_load_onnx,
    exportable=lambda model: model.module,
    onnx_output="probabilities",
)
