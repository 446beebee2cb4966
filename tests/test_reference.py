"""Published reference detectors (FerretNet-S) as detector folders, and the built-in detector.

A random-initialised twin goes through the real CLI; the published checkpoint is used when
`../shared/weights` is beside the checkout.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import make_real_fake_folder, run_cli
from PIL import Image

from deepfake_detect.backbones.ferretnet import FERRET_MEAN, FERRET_STD, build_ferretnet, ferret_fake_probability, ferret_tensor
from deepfake_detect.grid.config import load_config
from deepfake_detect.detector import BUILTIN_DETECTOR, Detector, DetectorError
from deepfake_detect.backbones.reference_networks import list_references, reference_network
from deepfake_detect.grid import run_grid

SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights" / "ferretnet" / "ferretnet-s-median-3.pth"


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference") / "ferretnet"
    result = run_cli("reference", "ferretnet_s", "--weights", "random", "-o", folder)
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Small textured images (zero-padded to the 256 px crop) of both classes."""
    return make_real_fake_folder(tmp_path_factory.mktemp("images") / "data", per_class=3, size=128)


def smooth_images() -> list[Image.Image]:
    """Larger than the 256 px crop, odd sizes (the crop's rounding). Smaller images are
    mirror-padded where the published pipeline pads zeros (tests/test_small_images.py)."""
    out = []
    for seed, (w, h) in enumerate([(301, 280), (263, 257)]):
        rng = np.random.default_rng(seed)
        small = rng.integers(0, 255, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        out.append(Image.fromarray(small).resize((w, h), Image.BICUBIC))
    return out


@pytest.mark.parametrize("name", list_references())
def test_registered_references_know_their_preprocessing(name):
    reference = reference_network(name)
    assert reference.license and reference.source
    if name == "ferretnet_s":
        assert (reference.policy, reference.size) == ("center_crop", 256)
        assert reference.mean == FERRET_MEAN and reference.std == FERRET_STD


@pytest.mark.slow
def test_the_random_twin_folder_scores_as_the_network_itself(twin):
    detector = Detector.load(twin)
    manifest = json.loads((twin / "manifest.json").read_text())
    assert detector.kind == "reference" and detector.threshold == 0.5
    assert manifest["onnx"] is None and "median" in manifest["onnx_unavailable"]
    assert manifest["backbone"]["license"] == "Apache-2.0"
    pictures = smooth_images()
    expected = ferret_fake_probability(build_ferretnet("random"), torch.stack([ferret_tensor(p) for p in pictures]))
    np.testing.assert_allclose(detector.score_pil(pictures), expected.numpy(), atol=1e-5)


@pytest.mark.slow
def test_predict_with_the_reference_folder_in_both_forms(twin, images):
    named = run_cli("predict", images, "--detector", twin, "-f", "csv")
    legacy = run_cli("predict", twin, images, "-f", "csv")
    assert named.exit_code == 0 and legacy.exit_code == 0, named.output + legacy.output
    assert named.stdout == legacy.stdout and named.stdout.count("\n") == 7


def test_a_missing_detector_or_wrong_weights_are_one_line(tmp_path, images):
    missing = run_cli("predict", images, "-d", tmp_path / "nothing")
    assert missing.exit_code == 2 and "not a folder" in missing.stderr
    wrong = tmp_path / "wrong.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(3)}, str(wrong))
    result = run_cli("reference", "ferretnet_s", "--weights", wrong, "-o", tmp_path / "det")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "does not fit FerretNet-S" in result.stderr and not (tmp_path / "det").exists()
    unknown = run_cli("reference", "no_such_net", "--weights", "random", "-o", tmp_path / "det")
    assert unknown.exit_code == 2 and "ferretnet_s" in unknown.stderr
    no_file = run_cli("reference", "ferretnet_s", "-o", tmp_path / "det")
    assert no_file.exit_code == 2 and "github.com/xigua7105/FerretNet" in no_file.stderr


def test_changed_weights_are_refused(twin, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(twin, copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(DetectorError, match="sha256 does not match"):
        Detector.load(copy)


@pytest.mark.slow
def test_a_grid_reference_entry_is_a_row_with_approach_reference(twin, images, tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": {"patterns": str(images)}, "backbones": ["fft_spectrum"], "classifiers": ["lda"],
        "reference": [str(twin)], "bootstrap": 10, "cache": str(tmp_path / "cache"), "jobs": 1,
        "protocols": {"within": {"test_size": 0.5, "seeds": [0]}},
    }))
    results = run_grid(load_config(config), tmp_path / "run")
    reference = results[results["approach"] == "reference"]
    assert len(reference) == 1 and reference.iloc[0]["backbone"] == "ferretnet_s"
    from deepfake_detect.report import write_report

    html, _ = write_report(tmp_path / "run")
    text = html.read_text()
    assert "Published reference detectors" in text and "ferretnet_s / published reference" in text


@pytest.mark.slow
def test_labelled_detector_entries_name_their_rows(twin, images, tmp_path):
    # two runs of one architecture must not merge into one method: a mapping labels each folder
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "grid.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": {"patterns": str(images)}, "backbones": ["fft_spectrum"], "classifiers": ["lda"],
        "reference": {"ferret_a": str(twin), "ferret_b": "../" + str(twin.relative_to(twin.parents[1]))},
        "bootstrap": 10, "cache": str(tmp_path / "cache"), "jobs": 1, "protocols": {"within": None},
    }))
    (tmp_path / twin.parent.name).symlink_to(twin.parent)  # a relative path resolves against the config
    loaded = load_config(config)
    assert [label for label, _ in loaded.detector_entries()] == ["ferret_a", "ferret_b"]
    results = run_grid(loaded, tmp_path / "run")
    rows = results[results["approach"] == "reference"]
    assert sorted(rows["backbone"]) == ["ferret_a", "ferret_b"] and rows["cell_id"].nunique() == 2
    assert rows["auc"].nunique() == 1  # the same detector on the same images
    assert len(run_grid(loaded, tmp_path / "run")) == len(results)  # finished cells are recognised


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason="../shared/weights/ferretnet is not beside this checkout")
def test_the_published_checkpoint_becomes_a_detector(tmp_path):
    result = run_cli("reference", "ferretnet_s", "--weights", SHARED_WEIGHTS, "-o", tmp_path / "ferretnet")
    assert result.exit_code == 0, result.output
    detector = Detector.load(tmp_path / "ferretnet")
    pictures = smooth_images()
    expected = ferret_fake_probability(build_ferretnet(SHARED_WEIGHTS), torch.stack([ferret_tensor(p) for p in pictures]))
    np.testing.assert_allclose(detector.score_pil(pictures), expected.numpy(), atol=1e-5)
    assert detector.spec.backbone.weights_id != "random"


# --- the built-in detector ----------------------------------------------------------------------


def test_the_builtin_detector_is_small_verified_and_documented():
    detector = Detector.load()
    assert detector.folder == BUILTIN_DETECTOR
    from deepfake_detect.detector.builtin import BUILTIN_MAX_BYTES

    assert sum(p.stat().st_size for p in BUILTIN_DETECTOR.iterdir()) < BUILTIN_MAX_BYTES
    manifest = detector.manifest
    assert manifest["training_data"]["licence"]
    # calibrated on held-out reals: probabilities (features kinds) or the threshold (networks)
    rule = manifest.get("threshold_rule") or {}
    assert (manifest.get("calibration") or {}).get("method") or (
        rule.get("rule") == "target_fpr" and rule.get("calibration_reals", 0) >= 100)
    assert all(0 <= row["auc"] <= 1 for row in manifest["measured"]["test_sets"])


def test_predict_and_the_api_use_the_builtin_detector_without_a_path(images):
    import deepfake_detect

    result = run_cli("predict", images, "-f", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 7
    assert deepfake_detect.Detector.load().folder == BUILTIN_DETECTOR
