"""Low-level features in the grid: block specs, residual backbones, a fusion and the patches
policy, selected in one config, run end to end on tiny generated images, and in the report."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import make_real_fake_folder

from deepfake_detect.grid.config import load_config
from deepfake_detect.errors import ConfigError
from deepfake_detect.features import FeatureCache, FusedSpace, PartScaler
from deepfake_detect.grid import run_grid
from deepfake_detect.report import write_report

SPEC = "efficientnet_lite0@blocks=1,2"
FUSION = {"lowlevel": ["npr_residual", "srm_residual", SPEC]}


def write_config(path: Path, **settings) -> Path:
    base = {
        "datasets": {"tiny": str(make_real_fake_folder(path.parent / "tiny", per_class=12, size=40))},
        "preprocess": "patches",
        "backbones": ["npr_residual", SPEC],
        "fusions": FUSION,
        "weights": {"efficientnet_lite0": "random"},  # a spec takes its network's weights
        "reductions": ["none"],
        "classifiers": ["linear_probe"],
        "protocols": {"within": {"seeds": [0]}, "cross": False,
                      "robustness": {"jpeg": [50], "blur": [], "downscale": [], "top": None}},
        "bootstrap": 20,
        "cache": str(path.parent / "cache"),
        "jobs": 1,
    }
    path.write_text(yaml.safe_dump({**base, **settings}))
    return path


@pytest.fixture(scope="module")
def lowlevel_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lowlevel")
    config = load_config(write_config(root / "grid.yaml"))
    results = run_grid(config, root / "run")
    return config, root, results


@pytest.mark.slow
def test_specs_fusions_and_patches_run_as_backbones(lowlevel_run):
    config, root, results = lowlevel_run
    assert set(results.backbone) == {"npr_residual", SPEC, "fusion:lowlevel"}
    assert set(results.protocol) == {"within", "robustness"}
    assert set(results[results.protocol == "robustness"].backbone) == set(results.backbone)
    assert results.auc.notna().all()
    fused = results[(results.backbone == "fusion:lowlevel") & (results.protocol == "within")]
    single = results[(results.backbone == "npr_residual") & (results.protocol == "within")]
    assert int(fused.n_test.iloc[0]) == int(single.n_test.iloc[0])  # the same images, fused
    with FeatureCache(config.cache) as cache:  # members cached under their own keys, nothing for the fusion
        descriptions = [row[0] for row in cache._db.execute("SELECT description FROM spaces")]
    assert not any("fusion" in d for d in descriptions)
    assert all('"preprocess": "patches5mean:' in d for d in descriptions)
    assert sum(SPEC.replace("1,2", "") in d for d in descriptions) >= 2  # clean and JPEG-degraded


@pytest.mark.slow
def test_a_rerun_recomputes_nothing(lowlevel_run):
    config, root, results = lowlevel_run
    again = run_grid(config, root / "run")
    assert len(again) == len(results)
    assert len((root / "run" / "cells.jsonl").read_text().splitlines()) == len(results)


@pytest.mark.slow
def test_the_report_shows_every_new_backbone(lowlevel_run):
    config, root, results = lowlevel_run
    html, markdown = write_report(root / "run")
    for text in (Path(html).read_text(), Path(markdown).read_text()):
        for backbone in ("npr_residual", SPEC, "fusion:lowlevel"):
            assert backbone in text, backbone


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"backbones": ["efficientnet_lite0@blocks=2,12"]}, ["no block '12'", "0-8 or last"]),
        ({"backbones": ["fft_spectrum@blocks=1"]}, ["fft_spectrum", "no blocks"]),
        ({"fusions": {"solo": ["npr_residual"]}}, ["fusions.solo", "at least 2"]),
        ({"fusions": {"bad": ["npr_residual", "nope"]}}, ["unknown backbone 'nope'"]),
        ({"preprocess": "tiles"}, ["preprocess", "patches"]),
    ],
)
def test_config_mistakes_are_one_line(tmp_path, settings, words):
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path / "grid.yaml", **settings))
    message = str(info.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_part_scaler_balances_parts_by_training_statistics():
    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(5, 100, (200, 2)), rng.normal(0, 0.01, (200, 50)), np.ones((200, 1))])
    scaled = PartScaler((2, 50, 1)).fit(X).transform(X)
    total_variance = [scaled[:, :2].var(0).sum(), scaled[:, 2:52].var(0).sum()]
    assert np.allclose(total_variance, 1.0) and np.all(scaled[:, 52] == 0)
    assert np.allclose(scaled[:, :52].mean(0), 0, atol=1e-9)


def test_fused_space_key_follows_its_members():
    from deepfake_detect.features import FeatureSpace

    a, b = (FeatureSpace(name, "none", "none", "resize:256", 4) for name in ("npr_residual", "srm_residual"))
    assert FusedSpace("fusion:x", (a, b)).key != FusedSpace("fusion:x", (b, a)).key
    assert FusedSpace("fusion:x", (a, b)).key == FusedSpace("fusion:x", (a, b)).key
    assert FusedSpace("fusion:x", (a, b)).part_dims == (4, 4)


@pytest.mark.slow
def test_a_detector_trained_on_patches_of_a_block_spec_scores_with_patches(tmp_path):
    """`train` records the patches policy and the spec; torch and ONNX Runtime both score each
    image as the mean of its crops, as the features it was trained on."""
    from deepfake_detect.detector import Detector
    from deepfake_detect.train import TrainingPlan, train_detector
    from deepfake_detect.detector.folder import read_detector_folder

    data = make_real_fake_folder(tmp_path / "data", per_class=10, size=128)
    plan = TrainingPlan(dataset=str(data), backbone="efficientnet_lite0@blocks=last,1", weights="random",
                        preprocess="patches", cache=str(tmp_path / "cache"))
    train_detector(plan, tmp_path / "detector", workers=0)
    manifest = read_detector_folder(tmp_path / "detector").manifest
    assert manifest.preprocess.policy == "patches" and manifest.backbone.name == "efficientnet_lite0@blocks=1,8"
    paths = sorted(data.rglob("*.png"))
    scores = {}
    for runtime in ("torch", "onnx"):
        predictions = Detector.load(tmp_path / "detector", runtime=runtime).predict(paths)
        scores[runtime] = np.array([p.probability for p in predictions])
    assert np.isfinite(scores["torch"]).all()
    assert np.allclose(scores["torch"], scores["onnx"], atol=1e-4)
