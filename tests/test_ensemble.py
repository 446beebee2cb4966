"""Rank ensembles: `deepfake-detect ensemble` turns fine-tuned folders into one detector folder of kind
"ensemble" whose score is the members' mean rank among held-out reals, on both runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_real_fake_folder, run_cli, write_pattern_image

from deepfake_detect.detector import Detector
from deepfake_detect.errors import DetectorError

SIZE = 32


def tiny_member(folder: Path, seed: int, size: int = SIZE) -> Path:
    """A fine-tuned folder as `finetune` writes one: a random patch network (seeded) with its ONNX graph."""
    from deepfake_detect.backbones.finetuned import build_finetune_network, weights_bytes
    from deepfake_detect.detector import finetuned_with_onnx
    from deepfake_detect.detector.folder import write_detector_folder

    network = build_finetune_network("patchnet_npr_s", "random", seed=seed).eval()
    manifest = {"kind": "finetune", "backbone": {"name": "patchnet_npr_s"}, "threshold": 0.5,
                "preprocess": {"policy": "center_crop", "size": size, "mean": [0.0] * 3, "std": [1.0] * 3},
                "training_data": {"name": f"seed {seed}"}}
    manifest, files = finetuned_with_onnx(manifest, {"model.safetensors": weights_bytes(network)}, network, size)
    return write_detector_folder(folder, manifest, files)


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("members")
    return [tiny_member(root / f"seed{seed}", seed) for seed in range(3)]


@pytest.fixture(scope="module")
def reals(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reals")
    for i in range(30):
        write_pattern_image(folder / f"real{i:02d}.png", seed=500 + i, fake=False)
    return folder


@pytest.fixture(scope="module")
def ensemble(members, reals, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ensemble") / "detector"
    result = run_cli("ensemble", *members, "--reals", reals, "-o", out)
    assert result.exit_code == 0, result.output
    assert "rank ensemble of 3 detectors, ranked on 15 reals" in result.output
    return out


def margins_of(member: Path, paths: list[Path]) -> np.ndarray:
    p = np.array([r.probability for r in Detector.load(member, runtime="torch").predict(paths)])
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def test_the_score_is_the_members_mean_rank_among_the_reference_reals(ensemble, members, tmp_path):
    from safetensors.numpy import load_file

    images = make_real_fake_folder(tmp_path / "data", per_class=4)
    paths = sorted(images.rglob("*.png"))
    weights = load_file(str(ensemble / "model.safetensors"))
    reference, softness = weights["reference"], weights["softness"]
    assert reference.shape == (3, 15) and (np.diff(reference, axis=1) >= 0).all()  # sorted margins

    margins = np.stack([margins_of(member, paths) for member in members])  # (members, images)
    expected = (1 / (1 + np.exp(-(margins[:, :, None] - reference[:, None, :]) / softness[:, None, None]))).mean(axis=(0, 2))
    for runtime in ("torch", "onnx"):
        detector = Detector.load(ensemble, runtime=runtime)
        assert detector.kind == "ensemble" and detector.runtime == runtime
        scores = np.array([r.probability for r in detector.predict(paths)])
        np.testing.assert_allclose(scores, expected, atol=2e-4)
    hard = (margins[:, :, None] > reference[:, None, :]).mean(axis=(0, 2))  # the plain rank it approximates
    assert np.abs(expected - hard).max() < 0.1


def test_the_threshold_is_set_on_the_other_half_of_the_reals(ensemble, reals):
    manifest = json.loads((ensemble / "manifest.json").read_text())
    rule = manifest["threshold_rule"]
    assert rule["rule"] == "target_fpr" and rule["calibration_reals"] == 15 and rule["calibration_fpr"] <= 0.05
    assert manifest["reference_reals"]["count"] == 15
    assert manifest["reference_reals"]["images"] != rule["calibration_images"]  # two disjoint halves
    assert manifest["training_data"]["members"] == [{"name": f"seed {seed}"} for seed in range(3)]
    assert manifest["backbone"] == {"name": "rank_ensemble", "weights_id": "members",
                                    "members": ["patchnet_npr_s"] * 3, "reference_size": 15}
    scores = [r.probability for r in Detector.load(ensemble).predict(sorted(reals.glob("*.png")))]
    assert np.mean(np.array(scores) > manifest["threshold"]) <= 0.2


def test_predict_and_the_page_take_an_ensemble_folder(ensemble, reals):
    result = run_cli("predict", reals / "real00.png", "--detector", ensemble, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.splitlines()[0])
    assert 0 <= row["probability"] <= 1 and row["verdict"] in ("no evidence found", "likely generated")


def test_members_must_be_fine_tuned_networks_with_one_preprocessing(members, reals, tmp_path):
    other = tiny_member(tmp_path / "other", seed=9, size=48)
    result = run_cli("ensemble", members[0], other, "--reals", reals, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "preprocess images differently" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    result = run_cli("ensemble", members[0], "--reals", reals, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "at least 2 member detectors" in result.stderr

    few = tmp_path / "few"
    for i in range(12):
        write_pattern_image(few / f"r{i}.png", seed=900 + i, fake=False)
    result = run_cli("ensemble", *members[:2], "--reals", few, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "at least 20 real images" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_ensemble_manifest_naming_an_unknown_member_is_refused_in_one_line(ensemble, tmp_path):
    import shutil

    copy = shutil.copytree(ensemble, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["backbone"]["members"][1] = "no_such_net"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DetectorError, match="no_such_net") as error:
        Detector.load(copy)
    assert "\n" not in str(error.value)
