"""The backbone registry: one decorated factory per model, as in timm; data about models.

A factory builds the architecture as a feature extractor (images in, one vector per image
out). `pretrained=True` asks it for the usual public weights (a download); `weights_file`
asks it to load a local file instead. Everything a caller needs besides the network (input
size, normalisation, feature dimension, where the weights come from) is registered beside it,
so it can be known without building the model. Building one with its weights is
`create.create_backbone`; the built network types are in `module`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, UnknownNameError, WeightsError
from ..registry import Registry

if TYPE_CHECKING:  # torch is imported only when a network is built: listing names stays instant
    import torch
    from torch import nn

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
    block_channels: tuple[int, ...] = field(default=())
    """Channels of each selectable intermediate block, numbered from 0 (see `layers`); empty
    for extractors without blocks."""
    base: str = ""
    """For a block selection (`efficientnet_lite0@blocks=2,4`): the registered network it taps."""
    blocks: tuple[int, ...] = field(default=())
    """For a block selection: the blocks it pools, in network order."""


_REGISTRY: Registry[BackboneInfo] = Registry("backbone")


def register_backbone(
    *,
    input_size: int,
    embed_dim: int,
    weights_source: str,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    needs_weights: bool = True,
    tags: tuple[str, ...] = (),
    block_channels: tuple[int, ...] = (),
) -> Callable[[Factory], Factory]:
    """`tags`: e.g. `FINETUNE_TAG` for networks with a tested fine-tuning recipe.
    `block_channels`: channels of the intermediate blocks a spec `name@blocks=...` may select."""

    def decorate(factory: Factory) -> Factory:
        name = factory.__name__
        _REGISTRY.add(name, BackboneInfo(
            name, factory, input_size, mean, std, embed_dim, weights_source, needs_weights, tuple(tags),
            tuple(block_channels),
        ))
        return factory

    return decorate


FINETUNE_TAG = "finetune"
"""Networks with a tested fine-tuning recipe: a pooled feature vector under a linear head."""


def list_backbones() -> list[str]:
    return _REGISTRY.names()


def list_finetunable() -> list[str]:
    """Backbones `finetune --arch` accepts (tagged `FINETUNE_TAG`); known without importing torch."""
    return [name for name in list_backbones() if FINETUNE_TAG in _REGISTRY[name].tags]


def check_arch(arch: str) -> str:
    """`arch` itself, or an `UnknownNameError` listing the architectures that can be fine-tuned."""
    if arch not in list_finetunable():
        raise UnknownNameError("architecture for fine-tuning", arch, list_finetunable())
    return arch


def list_layered() -> list[str]:
    """Backbones whose intermediate blocks a spec `name@blocks=...` can select."""
    return [name for name in list_backbones() if _REGISTRY[name].block_channels]


def backbone_info(name: str) -> BackboneInfo:
    """A registered backbone, or a block selection of one (`efficientnet_lite0@blocks=2,4,last`)."""
    if SPEC_SEPARATOR in name:
        return _block_selection(name)
    return _REGISTRY[name]


SPEC_SEPARATOR = "@"
BLOCKS_KEY = "blocks="
LAST_BLOCK = "last"


def _block_selection(spec: str) -> BackboneInfo:
    """The one parser of block specs. `name@blocks=2,4,last`: blocks numbered from 0 as timm's
    `feature_info` numbers them (0 is the stem where there is one), `last` the final one.

    The identity (cache keys, detector manifests) is the canonical spec: the blocks as numbers
    in network order, so `resnet18@blocks=last,2` and `resnet18@blocks=2,4` are one backbone.
    Each block gives its channels' mean and standard deviation over space (`layers`).
    """
    base_name, _, selection = spec.partition(SPEC_SEPARATOR)
    base = backbone_info(base_name)
    if not base.block_channels:
        raise ConfigError(
            f"backbone '{base_name}' has no blocks to select in '{spec}'; these do: {', '.join(list_layered())}"
        )
    last = len(base.block_channels) - 1
    valid = f"valid blocks of {base_name}: 0-{last} or {LAST_BLOCK}, e.g. {base_name}@{BLOCKS_KEY}2,{LAST_BLOCK}"
    if not selection.startswith(BLOCKS_KEY) or not selection[len(BLOCKS_KEY):].strip():
        raise ConfigError(f"'{spec}': expected {base_name}@{BLOCKS_KEY}LIST; {valid}")
    blocks = set()
    for part in selection[len(BLOCKS_KEY):].split(","):
        part = part.strip()
        block = last if part == LAST_BLOCK else int(part) if part.isdigit() else -1
        if not 0 <= block <= last:
            raise ConfigError(f"'{spec}': no block '{part}'; {valid}")
        blocks.add(block)
    chosen = tuple(sorted(blocks))
    canonical = f"{base_name}{SPEC_SEPARATOR}{BLOCKS_KEY}{','.join(map(str, chosen))}"
    return replace(
        base,
        name=canonical,
        factory=partial(_pooled_blocks, base.factory, chosen),
        embed_dim=2 * sum(base.block_channels[b] for b in chosen),
        tags=(),
        block_channels=(),
        base=base_name,
        blocks=chosen,
    )


def _pooled_blocks(factory: Factory, blocks: tuple[int, ...], **weights) -> nn.Module:
    from .layers import BlockStatistics  # torch: only when a network is built

    return BlockStatistics(factory(**weights), blocks)


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
