"""The fine-tuned network: a registered backbone with a two-class head, and its saved form.

The backbone comes from the same registry as the feature grid (Approach 2), so both
approaches start from identical pretrained weights and differ only in what is trained.
A trained network is saved as safetensors plus a JSON manifest: nothing is unpickled when a
detector folder is loaded, so a folder from a stranger cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..backbones import BackboneInfo, WeightsError, create_backbone

FINETUNE_ARCHS = ("resnet18", "resnet50", "efficientnet_lite0")
MODEL_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
MANIFEST_KIND = "finetune"


class FinetuneNetwork(nn.Module):
    """Images -> logits (N, 2); softmax(logits)[:, 1] is the probability of "fake"."""

    def __init__(self, features: nn.Module, info: BackboneInfo):
        super().__init__()
        self.features = features
        self.head = nn.Linear(info.embed_dim, 2)
        self.info = info

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).flatten(1))


def check_arch(arch: str) -> None:
    if arch not in FINETUNE_ARCHS:
        raise ValueError(f"unknown architecture '{arch}' for fine-tuning; choose from: {', '.join(FINETUNE_ARCHS)}")


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
    return torch.softmax(logits.float(), dim=1)[:, 1]


def state_for_saving(network: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies: safetensors refuses strided views and shared storage."""
    return {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in network.state_dict().items()}


def save_weights(network: nn.Module, path: Path) -> None:
    """Atomic: a reader (or a crash) never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    save_file(state_for_saving(network), str(partial))
    partial.replace(path)


def load_weights(network: nn.Module, path: Path) -> None:
    result = network.load_state_dict(load_file(str(path)), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"{path}: does not fit the network ({len(result.missing_keys)} missing keys, "
            f"e.g. {result.missing_keys[:2]}; {len(result.unexpected_keys)} unexpected, "
            f"e.g. {result.unexpected_keys[:2]})"
        )


def write_detector(network: FinetuneNetwork, manifest: dict[str, Any], detector_dir: Path) -> Path:
    detector_dir.mkdir(parents=True, exist_ok=True)
    save_weights(network, detector_dir / MODEL_FILE)
    partial = detector_dir / (MANIFEST_FILE + ".partial")
    partial.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    partial.replace(detector_dir / MANIFEST_FILE)
    return detector_dir


def read_manifest(detector_dir: str | Path) -> dict[str, Any]:
    path = Path(detector_dir) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a detector folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        kind = manifest.get("kind") if isinstance(manifest, dict) else None
        raise WeightsError(f"{path}: kind is {kind!r}, not '{MANIFEST_KIND}'")
    if manifest.get("arch") not in FINETUNE_ARCHS:
        raise WeightsError(f"{path}: unknown arch {manifest.get('arch')!r}; known: {', '.join(FINETUNE_ARCHS)}")
    return manifest


def load_finetuned(detector_dir: str | Path) -> tuple[FinetuneNetwork, dict[str, Any]]:
    """(network in eval mode on the CPU, manifest) from a detector folder written by `finetune`.

    The architecture is built without downloading anything (random init), then every weight
    is overwritten from model.safetensors, strictly.
    """
    detector_dir = Path(detector_dir)
    manifest = read_manifest(detector_dir)
    weights_path = detector_dir / MODEL_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path} not found")
    network = build_finetune_network(manifest["arch"], "random")
    load_weights(network, weights_path)
    return network.eval(), manifest
