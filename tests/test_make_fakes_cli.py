"""`deepfake-detect make-fakes` through the real dispatcher: pairs, resume, a bad file, exit codes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import run_cli, save_vae_twin, write_pattern_image


def test_make_fakes_writes_pairs_resumes_and_names_bad_files(tmp_path):
    reals = tmp_path / "reals"
    for i in range(3):
        write_pattern_image(reals / f"photo{i}.png", seed=i, fake=False, size=72)
    out = tmp_path / "aligned"
    first = run_cli("make-fakes", reals, out, "-g", "tconv", "-g", "upsample_conv", "--size", "64")
    assert first.exit_code == 0, first.output
    with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and {r["generator"] for r in rows if r["label"] in ("1", "fake")} == {"tconv", "upsample_conv"}
    assert len({r["group"] for r in rows}) == 3  # a real and its two fakes share a group

    (reals / "broken.png").write_bytes(b"not a png")
    again = run_cli("make-fakes", reals, out, "-g", "tconv", "-g", "upsample_conv", "--size", "64")
    assert again.exit_code == 1  # one input could not be used, and it is named
    assert "broken.png" in again.stderr and "3 already done" in again.stderr


def test_make_fakes_needs_a_generator(tmp_path):
    result = run_cli("make-fakes", tmp_path, tmp_path / "out")
    assert result.exit_code == 2 and "--generator" in result.stderr


@pytest.mark.slow
def test_a_full_vae_makes_fakes_from_a_local_weights_file(tmp_path):
    """The user's path for a full VAE: a downloaded file passed with --weights (here the random
    twin's weights under the name Hugging Face serves them)."""
    weights = tmp_path / "diffusion_pytorch_model.safetensors"
    save_vae_twin("sd_vae", weights)
    reals = tmp_path / "reals"
    for i in range(2):
        write_pattern_image(reals / f"photo{i}.png", seed=i, fake=False, size=40)
    out = tmp_path / "aligned"
    result = run_cli("make-fakes", reals, out, "-g", "sd_vae", "--size", "32", "--weights", weights)
    assert result.exit_code == 0, result.output
    assert len(list((out / "fake" / "sd_vae").iterdir())) == 2 and "sd_vae 2" in result.stderr


SHARED_TAESD = Path(__file__).resolve().parents[2] / "shared" / "weights" / "taesd"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_TAESD.is_dir(), reason=f"shared weights not found at {SHARED_TAESD}")
def test_all_plus_a_named_full_vae_makes_every_one(tmp_path):
    """`-g all -g sd_vae` with one weights folder holding the TAESD files and the VAE's."""
    from deepfake_detect.generators import default_generators

    weights = tmp_path / "weights"
    weights.mkdir()
    for file in SHARED_TAESD.iterdir():
        (weights / file.name).symlink_to(file)
    save_vae_twin("sd_vae", weights / "sd_vae.safetensors")
    reals = tmp_path / "reals"
    write_pattern_image(reals / "photo.png", seed=0, fake=False, size=40)
    out = tmp_path / "aligned"
    result = run_cli("make-fakes", reals, out, "-g", "all", "-g", "sd_vae", "--size", "32", "--weights", weights)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "fake").iterdir()) == sorted([*default_generators(), "sd_vae"])
