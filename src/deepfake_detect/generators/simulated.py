"""Simulated decoders (no weights): the demo's fakes, registered as generators so that the
make-fakes workflow can make aligned pairs with them like with any real decoder. A seed fixes
the drawn kernel, so one registered generator is one fixed network."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .registry import register_generator

SIMULATED_LICENCE = "part of this project"


def build(kind: str, seed: int):
    import numpy as np

    from .simulated_net import draw_simulated

    return draw_simulated(kind, np.random.default_rng(seed))


@register_generator(
    description="simulated GAN decoder: 2x down, stride-2 transposed convolution with a perturbed kernel",
    family="simulated",
    licence=SIMULATED_LICENCE,
)
def tconv(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("tconv", seed)


@register_generator(
    description="simulated decoder: 2x down, nearest-neighbour up-sampling, random 3x3 convolution",
    family="simulated",
    licence=SIMULATED_LICENCE,
)
def upsample_conv(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("upsample_conv", seed)
