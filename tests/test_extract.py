"""Extraction end to end: real files, a real backbone, the on-disk cache, real processes."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepfake_detect.backbones import create_backbone
from deepfake_detect.data import load_dataset
from deepfake_detect.errors import ExitStatus
from deepfake_detect.features import FeatureCache, extract_features, load_features
from deepfake_detect.features.extract import extraction_images
from deepfake_detect.transforms import Degradation, TransformSpec

from conftest import make_real_fake_folder

CLI = [sys.executable, "-m", "deepfake_detect"]


def cli_env(cache: Path) -> dict[str, str]:
    return {**os.environ, "DEEPFAKE_DETECT_CACHE": str(cache)}


@pytest.mark.slow
def test_extract_then_served_from_cache(image_folder, tmp_path):
    data = load_dataset(image_folder)
    backbone = create_backbone("efficientnet_lite0")
    with FeatureCache(tmp_path / "cache") as cache:
        first = extract_features(data, backbone, cache, workers=0, batch_size=10)
        assert (first.extracted, first.cached, first.bad) == (24, 0, [])
        second = extract_features(data, backbone, cache, workers=0)
        assert (second.extracted, second.cached) == (0, 24)
        X, y, ids, rows = load_features(data, first.space, cache)
    assert X.shape == (24, 1280) and np.isfinite(X).all()
    assert list(y) == data.labels and ids == data.ids and rows == list(range(24))


def test_features_are_reproducible_and_keyed_by_transform(image_folder, tmp_path):
    data = load_dataset(image_folder)
    backbone = create_backbone("fft_spectrum")
    spaces = []
    for run in range(2):
        with FeatureCache(tmp_path / f"cache{run}") as cache:
            report = extract_features(data, backbone, cache, TransformSpec(name="blur+jitter"), workers=1)
            spaces.append((report.space, load_features(data, report.space, cache)[0]))
    assert spaces[0][0].key == spaces[1][0].key
    assert np.array_equal(spaces[0][1], spaces[1][1])
    plain = extract_features(data, backbone, FeatureCache(tmp_path / "cache0"), workers=0)
    assert plain.space.key != spaces[0][0].key and plain.extracted == 24


def test_degraded_features_have_their_own_space(image_folder, tmp_path):
    data = load_dataset(image_folder)
    backbone = create_backbone("fft_spectrum")
    with FeatureCache(tmp_path / "cache") as cache:
        clean = extract_features(data, backbone, cache, workers=0)
        jpeg = extract_features(data, backbone, cache, workers=0, degradation=Degradation(kind="jpeg", level=30))
        unchanged = extract_features(data, backbone, cache, workers=0, degradation=Degradation(kind="blur", level=0))
        X_clean, X_jpeg = (load_features(data, r.space, cache)[0] for r in (clean, jpeg))
    assert set(clean.space.description()) == {"backbone", "weights", "transform", "preprocess"}
    assert jpeg.space.description()["degradation"] == "jpeg:30" and jpeg.extracted == 24
    assert unchanged.space == clean.space and unchanged.cached == 24  # blur 0 changes no pixel
    assert not np.allclose(X_clean, X_jpeg)


def test_only_untouched_images_are_draft_decoded(image_folder):
    """A blur sigma or a degradation is defined on the original pixels, not a DCT-scaled copy."""
    items = [(path, "ab" * 16) for path in sorted(image_folder.rglob("*.png"))]
    backbone = create_backbone("fft_spectrum")
    draft = {
        (name, kind): extraction_images(
            items, backbone, TransformSpec(name=name), "resize", kind and Degradation(kind=kind, level=0.5), None
        ).draft_size
        for name in ("none", "blur")
        for kind in (None, "downscale")
    }
    assert draft == {("none", None): 224, ("none", "downscale"): None, ("blur", None): None, ("blur", "downscale"): None}


def test_bad_files_are_skipped_named_and_counted(image_folder, bad_files, tmp_path):
    for path in bad_files.values():
        shutil.copy(path, image_folder / "real" / path.name)
    data = load_dataset(image_folder)
    warned = []
    with FeatureCache(tmp_path / "cache") as cache:
        report = extract_features(data, create_backbone("fft_spectrum"), cache, workers=2, on_bad=warned.append)
        X, y, _, rows = load_features(data, report.space, cache)
    assert sorted(Path(p).name for p, _ in report.bad) == ["notes.jpg", "truncated.jpg"]
    assert len(warned) == 2 and all(str(image_folder) in w for w in warned)
    assert report.extracted == 25 and X.shape[0] == 25  # the 16-bit PNG is usable


@pytest.mark.slow
def test_cli_extract_reports_bad_files_and_uses_the_cache(image_folder, bad_files, tmp_path):
    for path in bad_files.values():
        shutil.copy(path, image_folder / "fake" / path.name)
    command = CLI + ["extract", str(image_folder), "--backbone", "fft_spectrum"]
    first = subprocess.run(command, env=cli_env(tmp_path / "c"), capture_output=True, text=True, timeout=120)
    assert first.returncode == ExitStatus.PARTIAL, first.stderr  # finished, but some files were unusable
    assert "notes.jpg" in first.stderr and "truncated.jpg" in first.stderr and "2 unreadable" in first.stderr
    assert "Traceback" not in first.stderr
    second = subprocess.run(command, env=cli_env(tmp_path / "c"), capture_output=True, text=True, timeout=120)
    assert "25 from cache, 0 extracted" in second.stderr


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for args, expected in [
        (["extract", str(tmp_path / "empty")], "no images"),
        (["extract", str(tmp_path / "missing")], "no such folder"),
        (["extract", str(tmp_path), "--backbone", "nope"], "unknown backbone 'nope'; choose from"),
    ]:
        if "nope" in args:
            make_real_fake_folder(tmp_path, per_class=1)
        result = subprocess.run(CLI + args, env=cli_env(tmp_path / "c"), capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2


def _count(cache_dir: Path) -> int:
    db = cache_dir / "features.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as connection:
        try:
            return connection.execute("SELECT COUNT(*) FROM features").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_batches(tmp_path):
    folder = make_real_fake_folder(tmp_path / "data", per_class=40, size=32)
    cache = tmp_path / "cache"
    command = CLI + ["extract", str(folder), "--backbone", "resnet18", "--weights", "random", "--batch-size", "2", "--workers", "0"]
    process = subprocess.Popen(command, env=cli_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _count(cache) < 4 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _count(cache)
    assert 4 <= done < 80, "expected to kill the run midway"
    resumed = subprocess.run(command, env=cli_env(cache), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} from cache, {80 - done} extracted" in resumed.stderr
    assert _count(cache) == 80


@pytest.mark.slow
def test_two_runs_on_one_cache_at_once(tmp_path):
    folder = make_real_fake_folder(tmp_path / "data", per_class=40)
    cache = tmp_path / "cache"
    command = CLI + ["extract", str(folder), "--backbone", "fft_spectrum", "--batch-size", "4", "--workers", "0"]
    runs = [subprocess.Popen(command, env=cli_env(cache), stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=180)[1] for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert _count(cache) == 80
    with sqlite3.connect(cache / "features.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_patches_features_are_the_mean_of_the_crops_vectors(tmp_path):
    """Extraction under `patches` (threads and in-process alike) = the backbone on each native
    crop, averaged per image; its own cache space."""
    import torch

    from deepfake_detect.data.images import load_rgb
    from deepfake_detect.transforms import Preprocessing

    data = load_dataset(make_real_fake_folder(tmp_path / "data", per_class=3, size=304))
    backbone = create_backbone("npr_residual")
    with FeatureCache(tmp_path / "cache") as cache:
        report = extract_features(data, backbone, cache, preprocess="patches", workers=2, batch_size=2)
        X = load_features(data, report.space, cache)[0]
        plain = extract_features(data, backbone, cache, preprocess="center_crop", workers=0)
    assert report.extracted == 6 and "patches5mean" in report.space.preprocess
    assert plain.space.key != report.space.key
    crops = Preprocessing.for_backbone(backbone.info, "patches").tensor_transform(load_rgb(data.records[0].path))
    with torch.inference_mode():
        expected = backbone(crops).mean(dim=0).numpy()
    assert np.allclose(X[0], expected, atol=1e-4)
