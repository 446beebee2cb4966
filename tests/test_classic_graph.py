"""The classic part of a features detector as ONNX (`train.classic_graph`): one contract over every
registered classifier, reduction and calibration, then the folder that carries the graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepfake_detect.backbones import create_backbone
from deepfake_detect.classify import fake_scores, list_classifiers
from deepfake_detect.detector import Detector
from deepfake_detect.detector.folder import write_detector_folder
from deepfake_detect.errors import DetectorError
from deepfake_detect.inference.session import OnnxScorer
from deepfake_detect.reduce import list_reducers
from deepfake_detect.train.classic_graph import AGREEMENT_TOLERANCE, checked_classic_graph
from deepfake_detect.train.fit import fit_calibrated, save_features_detector
from deepfake_detect.train.plan import TrainingPlan

from conftest import gaussian_blobs, make_real_fake_folder  # noqa: I001

NOT_CONVERTED = {
    "gradient_boosting": "skl2onnx 1.20 writes a leaf's missing-value flag as a Python bool where ONNX wants an int",
}
"""Classifiers whose detectors keep scikit-learn at predict, and why. A classifier that starts to
convert fails its test below, so this list shrinks when skl2onnx catches up."""
SMALL = {"autoencoder": {"max_epochs": 5, "hidden": 16, "bottleneck": 4}}
"""Reduction parameters that keep a fit instant; the converter does not depend on them."""


def overlapping(n: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes that overlap (about 80% separable), so scores spread over (0, 1) rather
    than sitting at 0 and 1, where any two implementations agree."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, n_features)) + 0.25 * y[:, None], y


def fitted(classifier: str = "linear_probe", reduction: str = "none", calibration: str = "sigmoid", n_features: int = 12):
    X, y = overlapping(240, n_features, seed=1)
    plan = TrainingPlan(dataset="blobs", backbone="fft_spectrum", classifier=classifier, reduction=reduction,
                        reduction_params=SMALL.get(reduction, {}), calibration=calibration)
    return fit_calibrated(plan, X[:120], y[:120], X[120:180], y[120:180]), X[180:]


def assert_graph_scores_like_scikit_learn(model, fresh: np.ndarray) -> None:
    graph, info = checked_classic_graph(model.estimator, model.validation_rows)
    assert graph is not None, info["reason"]
    assert info["max_abs_difference"] <= AGREEMENT_TOLERANCE and info["checked_rows"] == len(model.validation_rows) + 256
    onnx, sklearn = OnnxScorer(graph, fresh.shape[1])(fresh), fake_scores(model.estimator, fresh)
    np.testing.assert_allclose(onnx, sklearn, atol=AGREEMENT_TOLERANCE, rtol=0)  # rows it was not checked on
    assert ((onnx > 0.5) == (sklearn > 0.5)).mean() > 0.99


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
@pytest.mark.parametrize("classifier", list_classifiers())
def test_every_classifier_converts_exactly_or_is_known_not_to(classifier, calibration, single_threaded_native_code):
    model, fresh = fitted(classifier, calibration=calibration)
    if classifier in NOT_CONVERTED:
        graph, info = checked_classic_graph(model.estimator, model.validation_rows)
        assert graph is None and "skl2onnx cannot convert" in info["reason"], f"{classifier} converts now: drop it from NOT_CONVERTED"
        return
    assert_graph_scores_like_scikit_learn(model, fresh)


@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic"])
@pytest.mark.parametrize("reduction", list_reducers())
def test_every_reduction_converts_exactly(reduction, calibration, single_threaded_native_code):
    for classifier in ("linear_probe", "random_forest"):  # a float64 classifier and a float32 (tree) one
        assert_graph_scores_like_scikit_learn(*fitted(classifier, reduction, calibration))


def test_the_check_runs_the_graph_on_the_rows_it_is_given(single_threaded_native_code):
    """Rows far outside what the isotonic fit saw still agree (both clip at its ends); rows the
    graph cannot score (another width) leave no graph, and the reason says why."""
    model, fresh = fitted(calibration="isotonic")
    graph, info = checked_classic_graph(model.estimator, fresh * 1e3)
    assert graph is not None and info["max_abs_difference"] <= AGREEMENT_TOLERANCE
    graph, info = checked_classic_graph(model.estimator, np.zeros((3, 5)))
    assert graph is None and "Mismatch between expected shape [None, 5]" in info["reason"]


# --- the folder ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    return make_real_fake_folder(tmp_path_factory.mktemp("data"), per_class=6)


@pytest.fixture(scope="module")
def lite_detector(tmp_path_factory) -> Path:
    """A features detector on EfficientNet-Lite0 (random weights: speed and parity need no real ones)."""
    backbone = create_backbone("efficientnet_lite0", "random")
    X, y = gaussian_blobs(n=60, n_features=backbone.info.embed_dim, seed=2)
    plan = TrainingPlan(dataset="blobs", backbone="efficientnet_lite0", weights="random", classifier="svm_rbf")
    folder = tmp_path_factory.mktemp("detectors") / "lite"
    save_features_detector(folder, plan, backbone, fit_calibrated(plan, X[:40], y[:40], X[40:], y[40:]), {"name": "blobs"})
    return folder


def test_onnx_runtime_scores_with_the_graph_and_torch_with_scikit_learn_alike(lite_detector, data_folder):
    manifest = json.loads((lite_detector / "manifest.json").read_text())
    assert manifest["classic_graph"]["file"] == "classic.onnx" and "classic.onnx" in manifest["files"]
    images = sorted(data_folder.rglob("*.png"))
    onnx, torch_ = Detector.load(lite_detector, runtime="onnx"), Detector.load(lite_detector, runtime="torch")
    assert isinstance(onnx.model.scorer, OnnxScorer) and not isinstance(torch_.model.scorer, OnnxScorer)
    a, b = onnx.predict(images), torch_.predict(images)
    np.testing.assert_allclose([r.probability for r in a], [r.probability for r in b], atol=1e-4)
    assert [r.verdict for r in a] == [r.verdict for r in b]


def test_predict_with_a_features_detector_never_imports_scikit_learn(lite_detector, data_folder, tmp_path):
    """Issue 18: the command line, in a fresh process, on a features detector's ONNX graphs."""
    image = sorted(data_folder.rglob("*.png"))[0]
    script = (
        "import sys; from deepfake_detect.cli.app import run; "
        f"status = run(['predict', {str(image)!r}, '--detector', {str(lite_detector)!r}, '--format', 'csv', "
        f"'-o', {str(tmp_path / 'out.csv')!r}]); "
        "print(status, *(name in sys.modules for name in ('sklearn', 'scipy', 'torch')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["0", "False", "False", "False"], done.stderr[-2000:]
    assert (tmp_path / "out.csv").read_text().count("\n") == 2


@pytest.mark.slow  # histogram boosting on 1280 features: 4 s
def test_a_classifier_skl2onnx_cannot_convert_keeps_scikit_learn_and_says_why(data_folder, tmp_path):
    backbone = create_backbone("efficientnet_lite0", "random")
    X, y = gaussian_blobs(n=60, n_features=backbone.info.embed_dim, seed=3)
    plan = TrainingPlan(dataset="blobs", backbone="efficientnet_lite0", weights="random", classifier="gradient_boosting")
    manifest = save_features_detector(tmp_path / "d", plan, backbone, fit_calibrated(plan, X[:40], y[:40], X[40:], y[40:]),
                                      {"name": "blobs"})
    assert "classic.onnx" not in manifest["files"] and not (tmp_path / "d" / "classic.onnx").exists()
    assert manifest["classic_graph"] == {"reason": manifest["classic_graph"]["reason"]}
    assert "skl2onnx cannot convert" in manifest["classic_graph"]["reason"]
    results = Detector.load(tmp_path / "d", runtime="onnx").predict(sorted(data_folder.rglob("*.png"))[:2])
    assert all(r.ok and 0 <= r.probability <= 1 for r in results)


def test_a_graph_for_other_features_is_refused_in_one_line(lite_detector, tmp_path):
    """A folder whose classic.onnx was swapped (with its sha256) for one of another width."""
    model, _ = fitted(n_features=12)
    other, _ = checked_classic_graph(model.estimator, model.validation_rows)
    manifest = json.loads((lite_detector / "manifest.json").read_text())
    files = {name: (lite_detector / name).read_bytes() for name in manifest["files"]} | {"classic.onnx": other}
    write_detector_folder(tmp_path / "swapped", {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}, files)
    with pytest.raises(DetectorError, match=r"swapped: classic.onnx: the graph's input is declared .* but the backbone gives \(batch, 1280\)"):
        Detector.load(tmp_path / "swapped", runtime="onnx")
    assert Detector.load(tmp_path / "swapped", runtime="torch").predict  # torch scores with the skops pipeline


def test_a_manifest_naming_a_graph_it_does_not_list_is_refused(lite_detector, tmp_path):
    manifest = json.loads((lite_detector / "manifest.json").read_text())
    files = {name: (lite_detector / name).read_bytes() for name in manifest["files"] if name != "classic.onnx"}
    kept = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    with pytest.raises(DetectorError, match="lists no sha256 for classic.onnx"):
        write_detector_folder(tmp_path / "d", kept, files)


def test_a_graph_that_gives_scores_outside_0_1_gives_no_verdict(lite_detector, tmp_path):
    """A crafted graph (an isotonic step moved to 5) is refused when loaded; a score out of [0, 1]
    that reaches a verdict anyway (from any kind) is an error, not "likely generated"."""
    import onnx
    from onnx import numpy_helper

    model, _ = fitted(n_features=1280, calibration="isotonic")
    graph = onnx.load_from_string(checked_classic_graph(model.estimator, model.validation_rows)[0])
    first = next(t for t in graph.graph.initializer if t.name == "calibrate_first")
    first.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(first) + 5.0, first.name))
    manifest = json.loads((lite_detector / "manifest.json").read_text())
    files = {name: (lite_detector / name).read_bytes() for name in manifest["files"]} | {"classic.onnx": graph.SerializeToString()}
    write_detector_folder(tmp_path / "crafted", {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}, files)
    with pytest.raises(DetectorError, match=r"crafted: classic.onnx: refused, it gives no probability$"):
        Detector.load(tmp_path / "crafted", runtime="onnx")
    detector = Detector.load(lite_detector)
    with pytest.raises(ValueError, match="no finite score"):
        detector.verdict(5.0)
    assert detector.scored(0, "x", 1.0, None, None).verdict == "likely generated"
