"""Detectors as folders: training, calibration, threshold, safe saving and loading, the Python API."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from deepfake_detect.backbones import create_backbone
from deepfake_detect.data import load_dataset
from deepfake_detect.detector import (
    Detector,
    DetectorError,
    TrainingPlan,
    plan_from_grid,
    threshold_for_fpr,
    train_detector,
)
from deepfake_detect.features import FeatureCache, extract_features

from conftest import make_real_fake_folder

MANIFEST_KEYS = {
    "format", "format_version", "kind", "created", "backbone", "preprocess", "transform", "reduction",
    "classifier", "calibration", "threshold", "threshold_rule", "validation", "training_data", "versions", "files",
}


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    return make_real_fake_folder(tmp_path_factory.mktemp("data"), per_class=12)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def trained(data_folder, cache_dir, tmp_path_factory):
    """A tiny, instant detector: spectrum features + logistic regression, Platt-calibrated."""
    plan = TrainingPlan(dataset=str(data_folder), backbone="fft_spectrum", cache=str(cache_dir))
    return train_detector(plan, tmp_path_factory.mktemp("detectors") / "fft", workers=0)


def copy_detector(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(source, target)
    return target


def rewrite_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


# --- training and the folder ----------------------------------------------------------------


def test_training_writes_a_complete_manifest_and_no_pickle(trained):
    manifest = trained.manifest
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["kind"] == "features"
    assert manifest["backbone"] == {
        "name": "fft_spectrum", "weights_id": "none", "weights_source": "none (hand-crafted)",
        "weights_bundled": False, "input_size": 224, "embed_dim": 112,
    }
    assert manifest["calibration"]["method"] == "sigmoid"
    assert manifest["threshold"] == 0.5 and manifest["threshold_rule"]["rule"] == "default"
    metrics = manifest["validation"]["metrics"]
    assert metrics["auc"] > 0.9 and 0 <= metrics["fpr"] <= 1
    data = manifest["training_data"]
    assert (data["real"], data["fake"], data["unreadable"]) == (12, 12, 0)
    assert data["train"]["real"] + data["validation"]["real"] == 12
    assert set(manifest["versions"]) >= {"deepfake_detect", "torch", "scikit_learn", "skops"}
    files = sorted(p.name for p in trained.path.iterdir())
    assert files == ["manifest.json", "model.skops"]
    assert set(manifest["files"]) == {"model.skops"}


def test_loaded_detector_predicts_paths_and_pil_images(trained, data_folder, bad_files):
    detector = Detector.load(trained.path)
    real, fake = data_folder / "real" / "img000.png", data_folder / "fake" / "img000.png"
    with Image.open(fake) as opened:
        pil = opened.convert("RGB")
    results = detector.predict([real, bad_files["truncated"], pil, str(fake), bad_files["text"]], batch_size=2)
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.path for r in results] == [str(real), str(bad_files["truncated"]), None, str(fake), str(bad_files["text"])]
    assert [r.ok for r in results] == [True, False, True, True, False]
    assert "truncated" in results[1].error.lower() and "not an image" in results[4].error
    for result in (results[0], results[2], results[3]):
        assert 0.0 <= result.probability <= 1.0
        assert result.verdict == ("fake" if result.probability > detector.threshold else "real")
    assert results[0].verdict == "real" and results[3].verdict == "fake"
    assert results[2].probability == pytest.approx(results[3].probability, abs=1e-6)
    assert detector.score_pil([pil])[0] == pytest.approx(results[3].probability, abs=1e-6)


def test_predict_paths_streams_in_input_order(trained, data_folder):
    detector = Detector.load(trained.path)
    paths = sorted(data_folder.rglob("*.png"))[::-1] + [data_folder / "missing.png"]
    stream = detector.predict_paths(paths, batch_size=4)
    first = next(stream)  # a generator: results come before the input is exhausted
    rest = list(stream)
    assert [r.path for r in [first, *rest]] == [str(p) for p in paths]
    assert rest[-1].error and "cannot read" in rest[-1].error
    batch = detector.predict(paths[:-1], batch_size=32)
    assert [r.probability for r in [first, *rest[:-1]]] == pytest.approx([r.probability for r in batch], abs=1e-9)


def test_threshold_for_fpr_flags_at_most_the_target_share_of_reals():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.98])
    labels = np.array([0] * 10 + [1, 1])
    assert threshold_for_fpr(scores, labels, 0.2) == pytest.approx(0.8)  # 0.9 and 0.95 above it
    assert threshold_for_fpr(scores, labels, 0.05) == pytest.approx(0.95)  # none above it
    tied = np.array([0.5, 0.5, 0.5, 0.5, 0.9])
    assert threshold_for_fpr(tied, np.array([0, 0, 0, 0, 1]), 0.25) == 0.5  # ties are not false alarms


def test_target_fpr_and_isotonic_calibration(data_folder, cache_dir, tmp_path):
    plan = TrainingPlan(dataset=str(data_folder), backbone="fft_spectrum", cache=str(cache_dir),
                        calibration="isotonic", target_fpr=0.1, validation_size=0.4)
    manifest = train_detector(plan, tmp_path / "iso", workers=0).manifest
    rule = manifest["threshold_rule"]
    assert rule["rule"] == "target_fpr" and rule["target_fpr"] == 0.1
    assert rule["validation_fpr"] <= 0.1 and manifest["validation"]["metrics"]["fpr"] <= 0.1
    assert manifest["threshold"] == rule["threshold"] and manifest["calibration"]["method"] == "isotonic"


def test_training_refuses_to_overwrite_and_checks_names_before_work(trained, data_folder, tmp_path):
    with pytest.raises(DetectorError, match="not empty"):
        train_detector(TrainingPlan(dataset=str(data_folder), backbone="fft_spectrum"), trained.path)
    with pytest.raises(DetectorError, match="classifier.*no_such"):
        train_detector(TrainingPlan(dataset=str(data_folder), classifier="no_such"), tmp_path / "x")
    with pytest.raises(DetectorError, match="between 0 and 1"):
        train_detector(TrainingPlan(dataset=str(data_folder), target_fpr=1.5), tmp_path / "y")
    assert not (tmp_path / "x").exists()


def test_bundled_network_weights_reload_exactly(data_folder, tmp_path):
    """A backbone with weights is saved as safetensors in the folder and reloaded strictly."""
    plan = TrainingPlan(dataset=str(data_folder), backbone="efficientnet_lite0", cache=str(tmp_path / "cache"),
                        max_per_class=6, validation_size=0.34)
    trained = train_detector(plan, tmp_path / "lite", workers=0)
    assert set(trained.manifest["files"]) == {"model.skops", "backbone.safetensors"}
    assert trained.manifest["backbone"]["weights_id"] == "pretrained:efficientnet_lite0"
    images = sorted(data_folder.rglob("img00[0-1].png"))
    first = [r.probability for r in Detector.load(trained.path).predict(images)]
    second = [r.probability for r in Detector.load(trained.path).predict(images)]
    assert first == second and all(0 <= p <= 1 for p in first)


# --- refusing tampered and foreign files -----------------------------------------------------------


def test_a_changed_model_file_is_refused(trained, tmp_path):
    folder = copy_detector(trained.path, tmp_path)
    data = bytearray((folder / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.skops").write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="sha256 does not match"):
        Detector.load(folder)


def test_a_model_that_would_run_code_is_refused_even_with_a_matching_hash(trained, tmp_path):
    """An attacker who also rewrites the manifest still cannot get os.system built."""
    import hashlib

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    folder = copy_detector(trained.path, tmp_path)
    payload = skops.io.dumps(FunctionTransformer(func=os.system, kw_args={"command": "touch pwned"}))
    (folder / "model.skops").write_bytes(payload)
    rewrite_manifest(folder, lambda m: m["files"].update({"model.skops": hashlib.sha256(payload).hexdigest()}))
    with pytest.raises(DetectorError, match="not trusted.*system"):
        Detector.load(folder)
    assert not Path("pwned").exists()


def test_a_pickle_in_place_of_the_model_is_refused(trained, tmp_path):
    import hashlib
    import pickle

    folder = copy_detector(trained.path, tmp_path)
    payload = pickle.dumps({"not": "a skops file"})
    (folder / "model.skops").write_bytes(payload)
    rewrite_manifest(folder, lambda m: m["files"].update({"model.skops": hashlib.sha256(payload).hexdigest()}))
    with pytest.raises(DetectorError, match="not a skops model file"):
        Detector.load(folder)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("files"), "lists no sha256 for model.skops"),
    (lambda m: m.update(kind="mystery"), "unknown detector kind"),
    (lambda m: m["backbone"].update(name="no_such_backbone"), "unknown backbone"),
])
def test_broken_manifests_fail_with_one_line(trained, tmp_path, change, message):
    folder = copy_detector(trained.path, tmp_path)
    rewrite_manifest(folder, change)
    with pytest.raises(DetectorError, match=message) as caught:
        Detector.load(folder)
    assert "\n" not in str(caught.value)


def test_not_a_detector_folder(tmp_path):
    with pytest.raises(DetectorError, match="not a detector folder"):
        Detector.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DetectorError, match="not valid JSON"):
        Detector.load(tmp_path)


# --- from a grid run ---------------------------------------------------------------------------------


def write_grid_run(run_dir: Path, data_folder: Path, cache: Path) -> None:
    run_dir.mkdir()
    config = {
        "datasets": {"tiny": str(data_folder), "other": str(data_folder)},
        "backbones": ["fft_spectrum"],
        "transforms": ["none", "blur"],
        "reductions": {"none": {}, "pca": {"n_components": 4}},
        "classifiers": {"linear_probe": {"C": 0.5}, "knn3": {}},
        "cache": str(cache),
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    base = dict(approach="features", protocol="within", perturbation="none", backbone="fft_spectrum", transform="none")
    rows = [
        # best mean AUC over seeds: pca + linear_probe on "tiny" (0.90, 0.92)
        dict(base, train_dataset="tiny", test_dataset="tiny", reduction="pca", classifier="linear_probe", seed=0, auc=0.90),
        dict(base, train_dataset="tiny", test_dataset="tiny", reduction="pca", classifier="linear_probe", seed=1, auc=0.92),
        # one lucky seed, worse mean
        dict(base, train_dataset="tiny", test_dataset="tiny", reduction="none", classifier="knn3", seed=0, auc=0.99),
        dict(base, train_dataset="tiny", test_dataset="tiny", reduction="none", classifier="knn3", seed=1, auc=0.70),
        # higher, but not eligible: perturbed, cross-dataset, fine-tuned
        dict(base, train_dataset="other", test_dataset="other", reduction="none", classifier="knn3", seed=0, auc=1.0,
             perturbation="jpeg"),
        dict(base, train_dataset="other", test_dataset="tiny", reduction="none", classifier="knn3", seed=0, auc=1.0,
             protocol="cross"),
        dict(base, train_dataset="other", test_dataset="other", reduction="none", classifier="finetune", seed=0, auc=1.0,
             approach="finetune"),
    ]
    import pandas as pd

    pd.DataFrame(rows).assign(accuracy=0.9).to_csv(run_dir / "results.csv", index=False)


def test_from_grid_trains_the_best_cell_from_features_already_cached(data_folder, tmp_path):
    cache = tmp_path / "grid-cache"
    with FeatureCache(cache) as store:  # what the grid run extracted
        extract_features(load_dataset(data_folder), create_backbone("fft_spectrum"), store, workers=0)
    run_dir = tmp_path / "run"
    write_grid_run(run_dir, data_folder, cache)
    plan = plan_from_grid(run_dir, calibration="isotonic")
    assert (plan.dataset_name, plan.reduction, plan.classifier) == ("tiny", "pca", "linear_probe")
    assert plan.reduction_params == {"n_components": 4} and plan.classifier_params == {"C": 0.5}
    assert plan.calibration == "isotonic" and plan.cache == str(cache)
    assert plan.origin["mean_auc"] == pytest.approx(0.91) and plan.origin["seeds"] == 2

    to_extract = []

    def progress(description, total):
        to_extract.append(total)
        from contextlib import nullcontext
        return nullcontext(lambda n: None)

    manifest = train_detector(plan, tmp_path / "best", workers=0, progress=progress).manifest
    assert to_extract == [0]  # every feature came from the grid's cache
    assert manifest["origin"]["method"]["classifier"] == "linear_probe"
    assert manifest["reduction"] == {"name": "pca", "params": {"n_components": 4}}
    assert manifest["training_data"]["name"] == "tiny"


def test_from_grid_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(DetectorError, match="results.csv not found"):
        plan_from_grid(tmp_path)


# --- fine-tuned detectors load through the same interface -----------------------------------------------


def test_finetuned_detector_loads_and_predicts(data_folder, tmp_path):
    network_module = pytest.importorskip("deepfake_detect.finetune.network")
    if not hasattr(network_module, "write_detector"):
        pytest.skip("deepfake_detect.finetune.network.write_detector not available yet")
    network = network_module.build_finetune_network("resnet18", "random", seed=0).eval()
    manifest = {"kind": "finetune", "arch": "resnet18", "input_size": 224, "mean": [0.485, 0.456, 0.406],
                "std": [0.229, 0.224, 0.225], "preprocess": "resize", "threshold": 0.5, "calibration": None,
                "metrics": {}}
    folder = network_module.write_detector(network, manifest, tmp_path / "ft")
    detector = Detector.load(folder)
    assert detector.kind == "finetune"
    results = detector.predict([data_folder / "real" / "img000.png", data_folder / "nope.png"])
    assert 0 <= results[0].probability <= 1 and results[0].verdict in ("real", "fake")
    assert results[1].error
