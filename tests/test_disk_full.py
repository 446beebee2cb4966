"""A full disk is one line and exit 2, and leaves no half-written row looking complete (issue 21).

Each test mounts a small tmpfs (root only; skipped with the reason otherwise), fills it to a few
kilobytes of free space, and runs the real command line in a subprocess writing there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import make_real_fake_folder

CLI = [sys.executable, "-m", "deepfake_detect"]


@pytest.fixture
def nearly_full(tmp_path) -> Path:
    """A 1 MB tmpfs with about `FREE` bytes left (whole pages) for the command to write."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'mount failed'})")
    try:
        filler = mount / "filler"
        with open(filler, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()
            except OSError:
                pass
        # leave one page: enough to open files, too little for the outputs below
        with open(filler, "r+b") as handle:
            handle.truncate(max(filler.stat().st_size - 4096, 0))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def assert_one_line_exit_2(done: subprocess.CompletedProcess) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(errors) == 1 and "space" in errors[0], done.stderr[-3000:]
    return errors[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_real_fake_folder(tmp_path_factory.mktemp("data"), per_class=60, size=32)


def test_predict_to_a_full_disk_is_one_line_and_no_half_row(nearly_full, images):
    out = nearly_full / "scores.csv"
    # a long file name makes every row about 300 bytes: 120 rows need more room than is left
    done = subprocess.run(CLI + ["predict", str(images), "-o", str(out), "--batch-size", "8"],
                          capture_output=True, text=True, timeout=600)
    assert_one_line_exit_2(done)
    text = out.read_text() if out.exists() else ""
    assert text == "" or text.endswith("\n")
    assert all(line.count(",") >= 4 for line in text.splitlines()), text[-500:]


def test_extract_to_a_full_disk_is_one_line(nearly_full, images):
    done = subprocess.run(CLI + ["extract", str(images), "--backbone", "fft_spectrum", "--cache", str(nearly_full / "cache")],
                          capture_output=True, text=True, timeout=600)
    assert_one_line_exit_2(done)


@pytest.mark.slow
def test_grid_to_a_full_disk_is_one_line(nearly_full, images, tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": {"d": str(images)}, "backbones": ["fft_spectrum"], "reductions": ["none"],
        "classifiers": ["linear_probe"], "cache": str(tmp_path / "cache"), "jobs": 1,
        "protocols": {"within": {}, "cross": False},
    }))
    done = subprocess.run(CLI + ["grid", str(config), "--out", str(nearly_full / "run")],
                          capture_output=True, text=True, timeout=600)
    assert_one_line_exit_2(done)
