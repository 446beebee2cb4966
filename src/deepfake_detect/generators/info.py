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
    """Official download location of each weights file, a template: `weights_url.format(stem=stem)`."""
    weights_env: str | None = None
    """Environment variable naming a folder that holds the weights files."""
    licence: str = ""
    in_all: bool = True
    """Part of `make-fakes --generator all`. False for full-size networks (a download of hundreds
    of MB, seconds per image on a CPU), which a user asks for by name."""

    @property
    def needs_weights(self) -> bool:
        return bool(self.weights_files)

    def download_url(self, stem: str) -> str | None:
        """Where the official `stem` file is published, or None when nowhere."""
        return self.weights_url.format(stem=stem) if self.weights_url else None
