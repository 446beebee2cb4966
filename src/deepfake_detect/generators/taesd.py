"""Tiny autoencoders (TAESD) of five latent-diffusion families, by Ollin Boer Bohan.

Each is a small encoder/decoder distilled to imitate one family's VAE (SD 1/2, SDXL, SD3,
FLUX.1, FLUX.2). A real photograph passed through one comes back nearly unchanged (PSNR
25-29 dB at 512 px) but carries that decoder's traces: an aligned fake of that family.

Weights: `--weights FOLDER` (or one of the files), else the folder in
`$DEEPFAKE_DETECT_TAESD_DIR`, else the torch hub cache, else a download of the official
`.pth` files from github.com/madebyollin/taesd (MIT). `.safetensors` copies (ComfyUI's
`models/vae_approx/`) work too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .registry import register_generator

TAESD_URL = "https://github.com/madebyollin/taesd/raw/main/{stem}.pth"
TAESD_ENV = "DEEPFAKE_DETECT_TAESD_DIR"
TAESD_LICENCE = "MIT (github.com/madebyollin/taesd)"


def build(prefix: str, latent_channels: int, files: Mapping[str, Path] | None, global_mix: bool = False):
    from .taesd_net import TinyAutoencoder

    network = TinyAutoencoder(latent_channels, global_mix)
    if files is not None:
        network.load_files(files, f"{prefix}_encoder", f"{prefix}_decoder")
    return network


def taesd_family(prefix: str, latent_channels: int, description: str):
    """The registration shared by every TAESD variant: files, URL, licence as data."""
    return register_generator(
        description=description,
        family="taesd",
        latent_channels=latent_channels,
        weights_files=(f"{prefix}_encoder", f"{prefix}_decoder"),
        weights_url=TAESD_URL,
        weights_env=TAESD_ENV,
        licence=TAESD_LICENCE,
    )


@taesd_family("taesd", 4, "Stable Diffusion 1.x/2.x VAE, imitated by a tiny autoencoder")
def taesd(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("taesd", 4, files)


@taesd_family("taesdxl", 4, "SDXL VAE, imitated by a tiny autoencoder")
def taesdxl(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("taesdxl", 4, files)


@taesd_family("taesd3", 16, "Stable Diffusion 3 VAE, imitated by a tiny autoencoder")
def taesd3(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("taesd3", 16, files)


@taesd_family("taef1", 16, "FLUX.1 VAE, imitated by a tiny autoencoder")
def taef1(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("taef1", 16, files)


@taesd_family("taef2", 32, "FLUX.2 VAE, imitated by a tiny autoencoder with pooling branches")
def taef2(files: Mapping[str, Path] | None = None, seed: int = 0):
    return build("taef2", 32, files, global_mix=True)
