"""The backbone registry: one decorated factory per model, as in timm.

A factory builds the architecture as a feature extractor (images in, one vector per image
out). `pretrained=True` asks it for the usual public weights (a download); `weights_file`
asks it to load a local file instead. Everything a caller needs besides the network (input
size, normalisation, feature dimension, where the weights come from) is registered beside it,
so it can be known without building the model.
"""

from __future__ import annotations

from ..errors import UnknownNameError, WeightsError

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported only when a network is built: listing names stays instant
    import torch
    from torch import nn

    from .module import Backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Factory = Callable[..., "nn.Module"]




@dataclass(frozen=True)
class BackboneInfo:
    name: str
    factory: Factory
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embed_dim: int
    weights_source: str
    """Where the pretrained weights come from, in words a user can act on offline."""
    needs_weights: bool = True
    """False for hand-crafted extractors that have nothing to learn."""
    tags: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, BackboneInfo] = {}


def register_backbone(
    *,
    input_size: int,
    embed_dim: int,
    weights_source: str,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    needs_weights: bool = True,
) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        name = factory.__name__
        if name in _REGISTRY:
            raise ValueError(f"backbone '{name}' registered twice")
        _REGISTRY[name] = BackboneInfo(
            name, factory, input_size, mean, std, embed_dim, weights_source, needs_weights
        )
        return factory

    return decorate


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def backbone_info(name: str) -> BackboneInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("backbone", name, list_backbones()) from None


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def create_backbone(name: str, weights: str | Path | None = "pretrained", seed: int = 0) -> Backbone:
    """Build a registered backbone in eval mode.

    weights: "pretrained" (the usual public source, needs the internet or a warm cache),
    "random" (seeded random initialisation, for tests and timing), or a path to a local file.
    """
    import torch

    from .module import Backbone

    info = backbone_info(name)
    weights = "pretrained" if weights is None else weights
    if not info.needs_weights:
        network, weights_id = info.factory(), "none"
    elif str(weights) == "random":
        torch.manual_seed(seed)
        network, weights_id = info.factory(), f"random-seed{seed}"
    elif str(weights) == "pretrained":
        try:
            network = info.factory(pretrained=True)
        except WeightsError:
            raise
        except Exception as exc:  # network, hub or cache failures of many kinds
            raise WeightsError(
                f"backbone '{name}' could not fetch its pretrained weights ({type(exc).__name__}); "
                f"offline, download them yourself and pass --weights PATH. Source: {info.weights_source}"
            ) from None
        weights_id = f"pretrained:{name}"
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file {path} not found (backbone '{name}'; source: {info.weights_source})")
        try:
            network = info.factory(weights_file=path)
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise WeightsError(f"{path}: does not fit backbone '{name}': {first_line}") from None
        weights_id = f"sha256:{file_digest(path)}"
    return Backbone(info, network, weights_id).eval()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file, unwrapped from common checkpoint shapes.

    torch files are read with `weights_only=True`, so a foreign checkpoint cannot run code.
    """
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "teacher", "student"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: not a state dict")
    cleaned = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone.", "network."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        cleaned[key] = value
    return cleaned


def load_strict(network: nn.Module, state: dict[str, torch.Tensor], ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load weights, tolerating only the keys named (a classification head we do not use)."""
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    result = network.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(ignore_prefixes)]
    if missing or result.unexpected_keys:
        raise WeightsError(
            f"weights do not match the architecture: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]})"
        )
