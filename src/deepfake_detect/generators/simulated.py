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


BANK_SIZE = 16
"""Decoders drawn per bank: each image uses one, chosen by its content."""


def bank(seed: int, chain: bool):
    from .random_decoders_net import DecoderBank

    return DecoderBank(BANK_SIZE, seed, chain=chain)


@register_generator(
    description=f"{BANK_SIZE} random up-sampling decoders drawn from the seed (transposed conv, nearest or "
                "bilinear up-sampling + conv, pixel shuffle; 1-2 stages, kernel 3-5, perturbation, colour mixing "
                "and activation drawn); each image uses the one its pixels pick",
    family="random_decoders",
    licence=SIMULATED_LICENCE,
    in_all=False,
)
def random_upsamplers(files: Mapping[str, Path] | None = None, seed: int = 0):
    return bank(seed, chain=False)


@register_generator(
    description="chains: one of random_upsamplers' drawn decoders, then a drawn bicubic resize down (0.6-0.9) "
                "and back, then JPEG at a drawn quality (75-95)",
    family="random_decoders",
    licence=SIMULATED_LICENCE,
    in_all=False,
)
def decoder_chains(files: Mapping[str, Path] | None = None, seed: int = 0):
    return bank(seed, chain=True)
