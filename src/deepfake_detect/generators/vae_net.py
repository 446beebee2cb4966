"""A KL autoencoder as an `ImageGenerator`: diffusers' `AutoencoderKL`, images in [0, 1]."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import WeightsError
from .module import ImageGenerator
from .weights import load_exact

VAE_MISSING = 'the full VAE generators need diffusers: pip install "deepfake-detect[vae]" (or pip install diffusers)'
RENAMED_ATTENTION = {".query.": ".to_q.", ".key.": ".to_k.", ".value.": ".to_v.", ".proj_attn.": ".to_out.0."}
"""Attention layer names of diffusers-format files saved before diffusers renamed them."""
LDM_PREFIXES = ("encoder.down.", "first_stage_model.", "decoder.up.")


class KLAutoencoder(ImageGenerator):
    """Stable Diffusion's autoencoder layout (four levels of 128/256/512/512 channels, two
    residual blocks each, 8x down-sampling) with `latent_channels`. A reconstruction decodes the
    mode of the latent distribution, so the same image always gives the same fake."""

    def __init__(self, latent_channels: int, quant_conv: bool):
        super().__init__()
        try:
            from diffusers import AutoencoderKL
        except ImportError:
            raise WeightsError(VAE_MISSING) from None
        self.vae = AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=latent_channels,
            use_quant_conv=quant_conv, use_post_quant_conv=quant_conv,
        )

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        latents = self.vae.encode(images * 2 - 1).latent_dist.mode()
        return (self.vae.decode(latents).sample + 1) / 2

    def load_file(self, files: Mapping[str, Path], stem: str) -> None:
        load_exact(files, {stem: self.vae}, renamed=current_attention_names)


def current_attention_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` with the attention layers under today's diffusers names. A file in the original
    LDM layout (ComfyUI's `models/vae/`, FLUX's `ae.safetensors`) is refused with what to get."""
    if any(key.startswith(LDM_PREFIXES) for key in state):
        raise ValueError("the original LDM layout (encoder.down.*), not diffusers'; "
                         "use the diffusers-format diffusion_pytorch_model.safetensors from the same release")
    renamed = {}
    for key, value in state.items():
        if ".attentions." in key:
            for old, new in RENAMED_ATTENTION.items():
                key = key.replace(old, new)
        renamed[key] = value
    return renamed
