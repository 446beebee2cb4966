"""Shared fixtures: small real image files written to temp folders."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_limits


def write_pattern_image(path: Path, seed: int, fake: bool, size: int = 48, fmt: str = "PNG") -> Path:
    """A textured image; "fakes" carry a faint period-2 checkerboard, as up-convolutions leave."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, size=(size // 8, size // 8, 3)).astype(np.float64)
    pixels = np.kron(base, np.ones((8, 8, 1))) + rng.normal(0, 6, (size, size, 3))
    if fake:
        checker = (np.indices((size, size)).sum(axis=0) % 2)[..., None] * 24.0 - 12.0
        pixels = pixels + checker
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, format=fmt)
    return path


def make_real_fake_folder(
    root: Path, per_class: int = 12, layout: str = "real_fake", size: int = 48, seed: int = 0, fmt: str = "PNG"
) -> Path:
    names = {"real_fake": ("real", "fake"), "ufd": ("0_real", "1_fake")}[layout]
    suffix = {"PNG": "png", "JPEG": "jpg"}[fmt]
    for label, folder in enumerate(names):
        for i in range(per_class):
            write_pattern_image(
                root / folder / f"img{i:03d}.{suffix}", seed=seed * 100_000 + 1000 * label + i,
                fake=bool(label), size=size, fmt=fmt,
            )
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_real_fake_folder(tmp_path / "data")


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    """A truncated JPEG, a text file named .jpg, and a 16-bit PNG."""
    folder = tmp_path / "bad"
    folder.mkdir()
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(buffer, format="JPEG")
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    text = folder / "notes.jpg"
    text.write_text("this is not an image\n")
    sixteen = folder / "deep.png"
    ramp = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
    Image.fromarray(ramp).save(sixteen)
    return {"truncated": truncated, "text": text, "sixteen_bit": sixteen}


def gaussian_blobs(n: int = 200, n_features: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two separable classes: real around -1.5, fake around +1.5 in every dimension (one
    feature alone is 93% accurate, so even a single tree scores well)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, n_features)) + np.where(y[:, None] == 1, 1.5, -1.5)
    return X, y


@pytest.fixture(scope="module")
def one_torch_thread():
    """On a shared 2-core machine, two OpenMP threads waiting on each other are ~5x slower than one.
    Fine-tuning tests that compare weights with a subprocess's (OMP_NUM_THREADS=1) use one thread
    too, so every run does its arithmetic in the same order."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def single_threaded_native_code():
    """One BLAS/OpenMP thread, as in the parallel experiment cells: on two shared cores,
    spin-waiting thread pools (HistGradientBoosting's OpenMP) can run 10x slower."""
    with threadpool_limits(1):
        yield


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: object) -> CliResult:
    """The real command line, through its one dispatcher (`cli.run`), with output captured.

    Exit codes and error lines are exactly what a user sees; a bug still raises here.
    """
    from typer.testing import CliRunner

    from deepfake_detect.cli import run

    with CliRunner().isolation() as (stdout, stderr, _):
        code = run([str(a) for a in args])
        out, err = stdout.getvalue().decode("utf-8", "replace"), stderr.getvalue().decode("utf-8", "replace")
    return CliResult(int(code), out, err)


def final_weights(run_dir: Path) -> dict:
    """The network's tensors after a fine-tuning run's last epoch (its checkpoint)."""
    import torch

    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    import torch

    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def kill_finetune_after_first_epoch(args: list[str], run_dir: Path) -> None:
    """`deepfake-detect finetune ARGS` in a subprocess (one OpenMP thread), SIGKILLed as soon as
    its first checkpoint is written: an interrupted run for `--resume` to finish."""
    process = subprocess.Popen([sys.executable, "-m", "deepfake_detect", "finetune", *args],
                               env=os.environ | {"OMP_NUM_THREADS": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not (run_dir / "checkpoint.pt").exists():
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()


def save_vae_twin(name: str, path: Path):
    """A full VAE generator's random twin, its weights saved at `path` in the layout Hugging Face
    publishes (diffusers' key names, safetensors); returns the twin."""
    from safetensors.torch import save_file

    from deepfake_detect.generators import create_generator

    twin = create_generator(name, weights="random")
    save_file({k: v.contiguous() for k, v in twin.vae.state_dict().items()}, str(path))
    return twin


SLOW_ENTRIES = frozenset({
    "dino_vitb16", "clip_vitb16", "dino_resnet50", "resnet50",  # backbones: ViT-B/16s and ResNet-50s
    "sd_vae", "sdxl_vae", "flux1_vae", "taesd3", "taesdxl", "taef2",  # generators: full VAEs, larger tiny ones
    "gradient_boosting_classic",  # the one classifier that takes seconds to fit
})
"""Registry entries whose parametrized tests take several seconds each (measured with
`pytest --durations=0`); `make check` leaves them to `make test`, which runs every entry."""


def pytest_collection_modifyitems(items):
    """A parametrized test over a registry is slow for the heavy entries above only."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        names = {part for value in params.values() if isinstance(value, str) for part in value.split("@")}
        if names & SLOW_ENTRIES:
            item.add_marker(pytest.mark.slow)
