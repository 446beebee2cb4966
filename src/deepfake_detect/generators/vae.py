"""Full latent-diffusion autoencoders (KL VAEs), the real decoders the tiny TAESD copies imitate.

AlignedForensics (Rajan et al., ICLR 2025) makes its aligned fakes with these very networks:
a photograph encoded and decoded by Stable Diffusion's VAE carries the decoder's traces and
nothing else. They are 84 M parameters each (about 3 s per 256 px image on a CPU core and a
330 MB download), so `make-fakes --generator all` leaves them out: ask for one by name.

The architecture comes from diffusers (`AutoencoderKL`, `pip install "deepfake-detect[vae]"`);
the weights from `--weights FILE` (any name: it is the only file) or a folder holding
`<name>.safetensors`, else `$DEEPFAKE_DETECT_VAE_DIR`, else the torch hub cache, else a
download of the diffusers-format file published on Hugging Face (`KL_VAES` below). Files
saved before diffusers renamed its attention layers (query/key/value/proj_attn) load too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .registry import register_generator

VAE_ENV = "DEEPFAKE_DETECT_VAE_DIR"


@dataclass(frozen=True)
class KLVaeSpec:
    """What differs between the published KL VAEs: latent channels, whether the 1x1 convolutions
    around the latent exist (FLUX.1 dropped them), where the file is published, and its terms."""

    description: str
    latent_channels: int
    quant_conv: bool
    url: str
    licence: str


HUB = "https://huggingface.co/"
KL_VAES = {
    "sd_vae": KLVaeSpec(
        "Stable Diffusion 1.x/2.x VAE (kl-f8, ft-MSE decoder), the full autoencoder", 4, True,
        HUB + "stabilityai/sd-vae-ft-mse/resolve/main/diffusion_pytorch_model.safetensors",
        "MIT (huggingface.co/stabilityai/sd-vae-ft-mse)"),
    "sdxl_vae": KLVaeSpec(
        "SDXL VAE, the full autoencoder", 4, True,
        HUB + "stabilityai/sdxl-vae/resolve/main/diffusion_pytorch_model.safetensors",
        "MIT (huggingface.co/stabilityai/sdxl-vae)"),
    "flux1_vae": KLVaeSpec(
        "FLUX.1 VAE (16 latent channels), the full autoencoder", 16, False,
        HUB + "black-forest-labs/FLUX.1-schnell/resolve/main/vae/diffusion_pytorch_model.safetensors",
        "Apache-2.0 (FLUX.1 [schnell], huggingface.co/black-forest-labs/FLUX.1-schnell)"),
}


def build(name: str, files: Mapping[str, Path] | None):
    from .vae_net import KLAutoencoder

    network = KLAutoencoder(KL_VAES[name].latent_channels, KL_VAES[name].quant_conv)
    if files is not None:
        network.load_file(files, name)
    return network


def kl_vae(name: str):
    """The registration of one published VAE, from its row of `KL_VAES`."""
    spec = KL_VAES[name]
    return register_generator(
        description=spec.description,
        family="kl-vae",
        latent_channels=spec.latent_channels,
        weights_files=(name,),
        weights_url=spec.url,
        weights_env=VAE_ENV,
        licence=spec.licence,
        in_all=False,
    )


@kl_vae("sd_vae")
def sd_vae(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("sd_vae", files)


@kl_vae("sdxl_vae")
def sdxl_vae(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("sdxl_vae", files)


@kl_vae("flux1_vae")
def flux1_vae(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("flux1_vae", files)
