"""Approach 1 on tiny real image folders: the real training code path, kept small for a CPU.

One fine-tuning run (module fixture) is shared by the tests that inspect its outputs; the
resume test trains the same configuration again in a subprocess, kills it, resumes it, and
must end with the very same weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import (
    assert_same_weights,
    final_weights,
    kill_finetune_after_first_epoch,
    make_real_fake_folder,
    run_cli,
)
from PIL import Image
from safetensors.torch import load_file

from deepfake_detect.backbones import list_finetunable
from deepfake_detect.backbones.finetuned import build_finetune_network
from deepfake_detect.data import load_dataset
from deepfake_detect.detector import Detector
from deepfake_detect.errors import UnknownNameError
from deepfake_detect.evaluate.metrics import compute_metrics
from deepfake_detect.finetune.augment import AugmentSpec, build_train_transform
from deepfake_detect.finetune.splits import split_dataset
from deepfake_detect.runs import RESULT_COLUMNS
from deepfake_detect.transforms.degrade import ROBUSTNESS_LEVELS, degrade

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--arch", "resnet18", "--weights", "random", "--epochs", "2", "--batch-size", "8", "--lr", "0.01",
        "--image-size", "32", "--workers", "0", "--blur-prob", "0.5", "--jpeg-prob", "0.5"]


def finetune(*args: object):
    """`deepfake-detect finetune ARGS` through the real command line."""
    return run_cli("finetune", *args)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("finetune_data")
    return {
        "train": make_real_fake_folder(root / "train", per_class=20, size=32),
        "other": make_real_fake_folder(root / "other", per_class=6, layout="ufd", size=40),
    }


@pytest.fixture(scope="module")
def finished_run(data, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finetune_run") / "run"
    result = finetune(data["train"], "--out", run_dir, *TINY, "--test", data["other"], "--robustness")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "AUC" in result.output
    return run_dir


def test_run_writes_every_artifact(finished_run):
    for name in ("checkpoint.pt", "best.safetensors", "history.csv", "curves.png", "results.csv",
                 "results.parquet", "report.html", "config.yaml", "detector/manifest.json",
                 "detector/model.safetensors"):
        assert (finished_run / name).is_file(), name
    with Image.open(finished_run / "curves.png") as curves:
        curves.verify()
        assert curves.format == "PNG"
    history = pd.read_csv(finished_run / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert {"train_loss", "val_loss", "val_auc", "val_accuracy", "seconds"} <= set(history.columns)
    assert not list(finished_run.glob("*.partial*"))


def test_results_follow_the_grid_schema(finished_run):
    results = pd.read_csv(finished_run / "results.csv")
    assert list(results.columns) == RESULT_COLUMNS
    assert pd.read_parquet(finished_run / "results.parquet").shape == results.shape
    within = results[results["protocol"] == "within"]
    cross = results[results["protocol"] == "cross"]
    robust = results[results["protocol"] == "robustness"]
    assert len(within) == 1 and within["perturbation"].item() == "none" and math.isnan(within["level"].item())
    assert within["n_test"].item() == 8  # 20% of 40 images: the grid's within split
    assert len(cross) == 1 and cross["test_dataset"].item() == "other" and cross["n_test"].item() == 12
    assert len(robust) == sum(len(levels) for levels in ROBUSTNESS_LEVELS.values())
    assert set(results["approach"]) == {"finetune"} and set(results["backbone"]) == {"resnet18"}
    assert set(results["classifier"]) == {"finetune"} and set(results["reduction"]) == {"none"}
    assert results["cell_id"].is_unique
    for cell in results["cell_id"]:
        with np.load(finished_run / "scores" / f"{cell}.npz") as scores:
            assert scores["y_true"].shape == scores["score"].shape
            assert ((scores["score"] >= 0) & (scores["score"] <= 1)).all()
    assert within["auc"].between(0, 1).all() and (results["fit_seconds"] > 0).all()


def test_results_equal_what_the_exported_detector_predicts(finished_run, data):
    """One scoring path: the run's results.csv and scores are those `Detector.predict_paths`
    gives for the same test images, as `predict` and `serve` would."""
    detector = Detector.load(finished_run / "detector")
    assert detector.kind == "finetune" and detector.spec.backbone.name == "resnet18"
    assert detector.spec.preprocess.size == 32 and detector.spec.preprocess.policy == "resize"
    assert detector.manifest["calibration"] is None


def test_the_threshold_is_set_on_the_validation_reals(finished_run, data):
    """As `train --target-fpr` does: a softmax's own 0.5 can call everything real at AUC 0.95."""
    detector = Detector.load(finished_run / "detector")
    rule = detector.manifest["threshold_rule"]
    assert rule["rule"] == "target_fpr" and rule["target_fpr"] == 0.05
    val_reals = [r.path for r in split_dataset(load_dataset(data["train"]), 0.2, 0.1, 0).val if r.label == 0]
    assert rule["validation_reals"] == len(val_reals) > 0
    scores = np.array([p.probability for p in detector.predict_paths(val_reals)])
    assert detector.threshold == pytest.approx(rule["threshold"])
    assert np.mean(scores > detector.threshold + 1e-4) <= 0.05  # at most 5% called fake (ONNX: ~1e-6 off torch)
    assert np.any(scores >= detector.threshold - 1e-4)  # the lowest such threshold, not an arbitrary high one
    assert {"name", "counts", "source"} <= set(detector.manifest["training_data"])
    assert "torch" in detector.manifest["versions"]
    on_torch = Detector.load(finished_run / "detector", runtime="torch")
    assert_same_weights(on_torch.model.network.state_dict(), load_file(str(finished_run / "best.safetensors")))

    test_records = split_dataset(load_dataset(data["train"]), 0.2, 0.1, 0).test
    predictions = list(detector.predict_paths([r.path for r in test_records]))
    probabilities = np.array([p.probability for p in predictions])
    labels = np.array([r.label for r in test_records])

    results = pd.read_csv(finished_run / "results.csv")
    within = results[results["protocol"] == "within"].iloc[0]
    expected = compute_metrics(labels, probabilities, threshold=detector.threshold, n_bootstrap=0)
    for metric in ("accuracy", "real_accuracy", "fake_accuracy", "auc", "ap", "eer", "tpr_at_5fpr"):
        assert within[metric] == pytest.approx(expected[metric], abs=1e-9), metric
    with np.load(finished_run / "scores" / f"{within['cell_id']}.npz") as saved:
        np.testing.assert_array_equal(saved["y_true"], labels)
        np.testing.assert_allclose(saved["score"], probabilities, atol=1e-6)


def test_a_resumed_run_does_not_rescore_finished_cells(finished_run, data):
    """The evaluation is resumable per cell: every cell is in the ledger, so nothing is redone."""
    ledger = (finished_run / "cells.jsonl").read_bytes()
    within_scores = next((finished_run / "scores").glob("*.npz"))
    stamp = within_scores.stat().st_mtime_ns
    (finished_run / "results.csv").unlink()
    result = finetune(data["train"], "--out", finished_run, *TINY, "--test", data["other"], "--robustness", "--resume")
    assert result.exit_code == 0, result.output
    assert (finished_run / "cells.jsonl").read_bytes() == ledger
    assert within_scores.stat().st_mtime_ns == stamp
    assert len(pd.read_csv(finished_run / "results.csv")) == ledger.count(b"\n")


@pytest.mark.slow
def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(finished_run, data, tmp_path):
    """SIGKILL during epoch 2 of the fixture's configuration, then --resume: the run completes
    and its final weights equal those of the run that was never interrupted."""
    run_dir = tmp_path / "killed"
    args = [str(data["train"]), "--out", str(run_dir), *TINY, "--bootstrap", "0"]
    kill_finetune_after_first_epoch(args, run_dir)
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["state"]["epoch"] == 1
    assert not (run_dir / "results.csv").exists()

    again = finetune(*args)
    assert again.exit_code == 2 and "--resume" in again.output  # never silently overwritten
    resumed = finetune(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [1, 2]
    assert (run_dir / "results.csv").is_file() and (run_dir / "detector" / "model.safetensors").is_file()
    assert_same_weights(final_weights(run_dir), final_weights(finished_run))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--arch", "vgg16"], "unknown architecture 'vgg16'"),
        (["--epochs", "0"], "epochs"),
        (["--schedule", "sometimes"], "schedule"),
    ],
)
def test_bad_options_fail_fast_with_one_line(data, tmp_path, options, expected):
    result = finetune(data["train"], "--out", tmp_path / "run", *options)
    assert result.exit_code == 2
    assert expected in result.output and result.output.strip().count("\n") == 0, result.output
    assert not (tmp_path / "run").exists()


def test_empty_dataset_fails_fast(tmp_path):
    (tmp_path / "empty" / "real").mkdir(parents=True)
    result = finetune(tmp_path / "empty", "--out", tmp_path / "run", "--weights", "random")
    assert result.exit_code == 2 and "no images" in result.output
    assert not (tmp_path / "run").exists()


def test_config_file_is_read_and_flags_override_it(data, tmp_path):
    config = tmp_path / "finetune.yaml"
    config.write_text(f"dataset: {data['train']}\nout: {tmp_path / 'run'}\narch: resnet18\nepochs: 0\n")
    from_file = finetune("--config", config)
    assert from_file.exit_code == 2 and "epochs" in from_file.output, from_file.output
    flag_wins = finetune("--config", config, "--epochs", "1", "--arch", "vgg16")
    assert flag_wins.exit_code == 2 and "vgg16" in flag_wins.output and "epochs" not in flag_wins.output


@pytest.mark.parametrize("arch", list_finetunable())
def test_network_contract(arch):
    network = build_finetune_network(arch, "random").eval()
    with torch.inference_mode():
        logits = network(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 2)
    again = build_finetune_network(arch, "random")
    assert_same_weights(network.state_dict(), again.state_dict())  # seeded head and body


def test_an_unknown_architecture_is_one_line():
    with pytest.raises(UnknownNameError, match="unknown architecture for fine-tuning 'vgg16'"):
        build_finetune_network("vgg16", "random")


def test_train_transform_upsizes_small_images_and_is_seeded():
    small = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    transform = build_train_transform("resize", 64, (0.5,) * 3, (0.5,) * 3, AugmentSpec(blur_prob=1, jpeg_prob=1))
    torch.manual_seed(1)
    first = transform(small)
    torch.manual_seed(1)
    assert first.shape == (3, 64, 64) and torch.equal(first, transform(small))
    padded = build_train_transform("center_crop", 64, (0.5,) * 3, (0.5,) * 3, AugmentSpec())(small)
    assert padded.shape == (3, 64, 64)


def test_degrade():
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    assert degrade(photo, "blur", 0) is photo
    assert degrade(photo, "downscale", 1.0) is photo
    assert degrade(photo, "downscale", 0.5).size == (32, 24)
    blurred = np.asarray(degrade(photo, "blur", 2), dtype=float)
    assert blurred.std() < np.asarray(photo, dtype=float).std()

    def error(quality: int) -> float:
        return float(np.abs(np.asarray(degrade(photo, "jpeg", quality), dtype=float) - np.asarray(photo)).mean())

    assert degrade(photo, "jpeg", 90).size == photo.size
    assert error(30) > error(75) > error(100)
    for kind, level in (("jpeg", 0), ("blur", -1), ("downscale", 2)):
        with pytest.raises(ValueError):
            degrade(photo, kind, level)
    with pytest.raises(UnknownNameError):
        degrade(photo, "noise", 1)
