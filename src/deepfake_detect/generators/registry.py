"""The generator registry: one decorated factory per image generator, as for backbones.

A generator here is a network that turns a real photograph into an *aligned* fake: the same
picture passed through a generator's decoder (a latent-diffusion autoencoder, a simulated
up-sampling stage). Real and fake then differ only in the generator's traces, never in
content, size or file format, which is what lets a detector trained on them generalize
(Rajan et al., ICLR 2025; B-Free; DRCT). Everything known about a generator besides the
network (latent channels, weights files, where to download them, licence) is registered
beside its factory as data, so it can be listed without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..registry import Registry
from .info import Factory, GeneratorInfo, WeightsArg
from .weights import describe_files, resolve_weights

if TYPE_CHECKING:
    from .module import ImageGenerator


_REGISTRY: Registry[GeneratorInfo] = Registry("generator")


def register_generator(
    *,
    description: str,
    family: str,
    latent_channels: int | None = None,
    weights_files: tuple[str, ...] = (),
    weights_url: str | None = None,
    weights_env: str | None = None,
    licence: str = "",
    in_all: bool = True,
) -> Callable[[Factory], Factory]:
    """Register the decorated factory under its function name.

    The factory is called as `factory(files=..., seed=...)`: `files` maps each weights stem
    to a local file, or is None for a random-initialised twin; `seed` drives any random
    choice the generator itself makes (the simulated kernels).
    """

    return _REGISTRY.register(lambda name, factory: GeneratorInfo(
        name, factory, description, family, latent_channels, weights_files, weights_url, weights_env, licence, in_all,
    ))


def list_generators() -> list[str]:
    return _REGISTRY.names()


def default_generators() -> list[str]:
    """What `--generator all` means: every generator except the full-size ones (`in_all`)."""
    return [name for name in list_generators() if _REGISTRY[name].in_all]


def generator_info(name: str) -> GeneratorInfo:
    return _REGISTRY[name]


def create_generator(name: str, weights: WeightsArg = None, seed: int = 0) -> ImageGenerator:
    """Build a registered generator in eval mode, gradients off.

    weights: None (the folder in the generator's environment variable, else the download
    cache, else a download from the official URL), "random" (a seeded random-initialised
    twin of the architecture, for tests and timing), or a local folder or file holding the
    weights files. Generators without weights ignore it.
    """
    import torch


    info = generator_info(name)
    if not info.needs_weights:
        generator = info.factory(files=None, seed=seed)
        described = getattr(generator, "parameters_text", None)  # drawn networks list what was drawn
        generator.weights_id = f"seed{seed}" + (f":{described()}" if described else "")
    elif str(weights) == "random":
        torch.manual_seed(seed)
        generator = info.factory(files=None, seed=seed)
        generator.weights_id = f"random-seed{seed}"
    else:
        files = resolve_weights(info, weights)
        generator = info.factory(files=files, seed=seed)
        generator.weights_id = describe_files(files)
    generator.name = name
    generator.eval().requires_grad_(False)
    return generator
