"""What is known about a generator without building it: registered data, no torch import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .module import ImageGenerator

Factory = Callable[..., "ImageGenerator"]
WeightsArg = str | Path | None
"""None (environment variable, cache, download), "random", or a local folder or file."""


@dataclass(frozen=True)
class GeneratorInfo:
    name: str
    factory: Factory
    description: str
    family: str
    latent_channels: int | None = None
    weights_files: tuple[str, ...] = ()
    """File stems the weights come in (each as `.safetensors` or `.pth`); empty: no weights."""
    weights_url: str | None = None
    """Official download location: `weights_url + stem + ".pth"`."""
    weights_env: str | None = None
    """Environment variable naming a folder that holds the weights files."""
    licence: str = ""

    @property
    def needs_weights(self) -> bool:
        return bool(self.weights_files)
