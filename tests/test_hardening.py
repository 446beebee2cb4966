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


# --- tampered ONNX graphs and run-time model failures ---------------------------------------------


def _finetuned_folder(folder: Path, size: int = 64) -> Path:
    from deepfake_detect.backbones import backbone_info
    from deepfake_detect.backbones.finetuned import build_finetune_network, weights_bytes
    from deepfake_detect.detector import finetuned_with_onnx
    from deepfake_detect.detector.folder import write_detector_folder

    network = build_finetune_network("efficientnet_lite0", "random")
    info = backbone_info("efficientnet_lite0")
    manifest = {"kind": "finetune", "backbone": {"name": "efficientnet_lite0"}, "threshold": 0.5,
                "preprocess": {"policy": "resize", "size": size, "mean": list(info.mean), "std": list(info.std)}}
    manifest, files = finetuned_with_onnx(manifest, {"model.safetensors": weights_bytes(network)}, network, size)
    return write_detector_folder(folder, manifest, files)


def _replace_graph(folder: Path, graph: bytes) -> None:
    import hashlib

    (folder / "network.onnx").write_bytes(graph)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["network.onnx"] = hashlib.sha256(graph).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _graph(input_shape: list, huge_output: bool) -> bytes:
    """A graph with the detector's input name; either 10^12 zeros at run time, or a plain copy."""
    import onnx
    from onnx import TensorProto, helper

    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)
    if huge_output:
        shape = helper.make_node("Constant", [], ["shape"], value=helper.make_tensor("s", TensorProto.INT64, [2], [10**6, 10**6]))
        nodes = [shape, helper.make_node("ConstantOfShape", ["shape"], ["logits"])]
    else:
        nodes = [helper.make_node("Identity", ["images"], ["logits"])]
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph(nodes, "tampered", [images], [logits]),
                              opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> Path:
    return _finetuned_folder(tmp_path_factory.mktemp("ft") / "detector")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    from conftest import make_real_fake_folder

    return sorted(make_real_fake_folder(tmp_path_factory.mktemp("img"), per_class=1).rglob("*.png"))


def test_a_graph_declaring_other_input_dimensions_is_refused_at_load(finetuned, tmp_path):
    import shutil

    from deepfake_detect.detector import Detector

    folder = tmp_path / "d"
    shutil.copytree(finetuned, folder)
    _replace_graph(folder, _graph(["batch", 3, 10**9, 64], huge_output=False))
    with pytest.raises(DetectorError, match=r"network.onnx: the graph's input is declared .*1000000000"):
        Detector.load(folder, runtime="onnx")


def test_a_graph_that_fails_when_run_gives_error_rows_and_a_clear_500(finetuned, images, tmp_path):
    import shutil

    import httpx

    from conftest import run_cli
    from deepfake_detect.detector import Detector
    from deepfake_detect.serve import create_app
    from test_serve import LiveServer

    folder = tmp_path / "d"
    shutil.copytree(finetuned, folder)
    _replace_graph(folder, _graph(["batch", 3, 64, 64], huge_output=True))
    result = run_cli("predict", folder, *images, "--runtime", "onnx")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    rows = [line for line in result.stdout.splitlines()[1:] if line]
    assert len(rows) == len(images) and all("failed when run" in row for row in rows), result.stdout
    with LiveServer(create_app(Detector.load(folder, runtime="onnx"))) as live, \
            httpx.Client(base_url=live.url, timeout=60) as client:
        response = client.post("/predict", files=[("files", ("a.png", images[0].read_bytes(), "image/png"))])
    assert response.status_code == 500 and "failed when run" in response.json()["detail"]


def test_nan_features_into_a_features_detector_give_error_rows(tmp_path, images):
    """Network detectors already gave error rows for a NaN; a features detector gave a traceback."""
    import numpy as np

    from conftest import gaussian_blobs
    from deepfake_detect.backbones import create_backbone
    from deepfake_detect.detector import Detector
    from deepfake_detect.train.plan import TrainingPlan
    from deepfake_detect.train.fit import fit_calibrated, save_features_detector

    backbone = create_backbone("fft_spectrum")
    X, y = gaussian_blobs(n=40, n_features=backbone.info.embed_dim)
    plan = TrainingPlan(dataset="blobs", backbone="fft_spectrum")
    save_features_detector(tmp_path / "d", plan, backbone, fit_calibrated(plan, X[:24], y[:24], X[24:], y[24:]),
                           data={"name": "blobs"})
    detector = Detector.load(tmp_path / "d", runtime="torch")
    features = np.vstack([X[:1], np.full((1, X.shape[1]), np.nan)])
    from deepfake_detect.detector.kinds.features import scores_of_finite_rows

    scores = scores_of_finite_rows(detector.model.scorer, features)
    assert np.isfinite(scores[0]) and np.isnan(scores[1])


# --- serve: the per-image limit, and cheap rejections first ---------------------------------------


def test_a_single_400_megapixel_bomb_is_reported_as_the_per_image_limit(finetuned):
    import io

    import httpx
    from PIL import Image

    from deepfake_detect.detector import Detector
    from deepfake_detect.serve import create_app
    from test_serve import LiveServer

    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 MP in a few hundred KB
    with LiveServer(create_app(Detector.load(finetuned))) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        response = client.post("/predict", files=[("files", ("bomb.png", bomb.getvalue(), "image/png"))])
    detail = response.json()["detail"]
    assert response.status_code == 413 and "per image" in detail and "per request" not in detail, detail


def test_cheap_rejections_do_not_wait_behind_a_decode(finetuned, images):
    """With the one decoding slot held by a slow upload, a zero-byte file and a text file are still
    answered at once (the slow decode is a detector whose preprocessing waits for an event)."""
    import threading

    import httpx

    from deepfake_detect.detector import Detector
    from deepfake_detect.serve import create_app
    from test_serve import LiveServer

    release, decoding = threading.Event(), threading.Event()

    class SlowToDecode(Detector):
        def to_tensor(self, image):
            decoding.set()
            release.wait(60)
            return super().to_tensor(image)

    detector = Detector.load(finetuned)
    detector.__class__ = SlowToDecode
    with LiveServer(create_app(detector, decode_slots=1)) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        slow = threading.Thread(target=client.post, args=("/predict",),
                                kwargs={"files": [("files", ("a.png", images[0].read_bytes(), "image/png"))]})
        slow.start()
        try:
            assert decoding.wait(60)
            with httpx.Client(base_url=live.url, timeout=20) as quick:
                empty = quick.post("/predict", files=[("files", ("empty.png", b"", "image/png"))])
                text = quick.post("/predict", files=[("files", ("notes.png", b"not an image", "image/png"))])
        finally:
            release.set()
            slow.join(60)
    assert empty.status_code == 415 and "empty file" in empty.json()["detail"]
    assert text.status_code == 415 and "notes.png" in text.json()["detail"]
