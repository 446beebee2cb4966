"""Issue 21's smaller cases: file modes of atomic writes, strict format versions, and the like."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from deepfake_detect.errors import DetectorError
from deepfake_detect.runtime import atomic_write_text


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode):
    """mkstemp's 0600 made detector folders, fakes and results.csv unreadable to colleagues."""
    from deepfake_detect.detector.folder import write_detector_folder

    previous = os.umask(umask)
    try:
        written = atomic_write_text(tmp_path / "results.csv", "a,b\n")
        folder = write_detector_folder(tmp_path / "det", {
            "kind": "finetune", "backbone": {"name": "efficientnet_lite0"}, "threshold": 0.5,
            "preprocess": {"policy": "resize", "size": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
        }, {"model.safetensors": b"x"})
    finally:
        os.umask(previous)
    for path in (written, folder / "manifest.json", folder / "model.safetensors"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_a_format_version_that_only_equals_one_loosely_is_refused(tmp_path, version):
    from deepfake_detect.detector.folder import read_detector_folder, write_detector_folder

    folder = write_detector_folder(tmp_path / "det", {
        "kind": "finetune", "backbone": {"name": "efficientnet_lite0"}, "threshold": 0.5,
        "preprocess": {"policy": "resize", "size": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
    }, {"model.safetensors": b"x"})
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = version
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DetectorError, match="format_version"):
        read_detector_folder(folder)
