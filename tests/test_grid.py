"""The grid end to end: real files, the real cache, real processes, every registered model."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_real_fake_folder, write_pattern_image

from deepfake_detect.classify import list_classifiers
from deepfake_detect.config import load_config
from deepfake_detect.data import load_dataset
from deepfake_detect.evaluate.grid import run_grid
from deepfake_detect.evaluate.results import RESULT_COLUMNS
from deepfake_detect.evaluate.shortcuts import shortcut_warnings
from deepfake_detect.reduce import list_reducers

CLI = [sys.executable, "-m", "deepfake_detect"]


def write_config(path: Path, **settings) -> Path:
    base = {
        "backbones": ["fft_spectrum"],
        "reductions": {"none": {}, "pca": {"n_components": 8}, "autoencoder": {"bottleneck": 4, "max_epochs": 20}},
        "classifiers": "all",
        "bootstrap": 50,
        "cache": str(path.parent / "cache"),
        "jobs": 2,
    }
    path.write_text(yaml.safe_dump({**base, **settings}))
    return path


@pytest.fixture
def two_datasets(tmp_path):
    return {
        "alpha": str(make_real_fake_folder(tmp_path / "alpha", per_class=16, size=32, seed=1)),
        "beta": str(make_real_fake_folder(tmp_path / "beta", per_class=16, size=32, seed=2)),
    }


def test_grid_runs_every_model_with_a_cross_dataset_matrix(tmp_path, two_datasets):
    config = load_config(write_config(tmp_path / "grid.yaml", datasets=two_datasets))
    results = run_grid(config, tmp_path / "run")
    assert list(results.columns) == RESULT_COLUMNS
    assert set(results.classifier) == set(list_classifiers())
    assert set(results.reduction) == set(list_reducers())
    cross = results[results.protocol == "cross"]
    assert set(zip(cross.train_dataset, cross.test_dataset)) == {("alpha", "beta"), ("beta", "alpha")}
    within = results[results.protocol == "within"]
    assert within.auc.max() > 0.9  # the checkerboard is there to be found
    for name in ("results.csv", "results.parquet", "report.html", "report.md", "config.yaml", "run.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert len(pd.read_parquet(tmp_path / "run" / "results.parquet")) == len(results)
    assert len(list((tmp_path / "run" / "scores").glob("*.npz"))) == len(results)
    saved = load_config(tmp_path / "run" / "config.yaml")  # the exact config, reusable as is
    assert saved.datasets == config.datasets and saved.classifiers == config.classifiers

    again = run_grid(config, tmp_path / "run")  # everything is done: nothing is refitted
    lines = (tmp_path / "run" / "cells.jsonl").read_text().splitlines()
    assert len(lines) == len(results) == len(again)


def test_leave_one_generator_out_and_shortcut_guard(tmp_path):
    for generator in ("gan_a", "gan_b"):
        make_real_fake_folder(tmp_path / "mixed" / generator, per_class=12, layout="ufd", size=32, seed=hash(generator) % 97)
    config = load_config(write_config(
        tmp_path / "grid.yaml", datasets={"mixed": str(tmp_path / "mixed")},
        classifiers=["linear_probe"], reductions=["none"],
        protocols={"within": {"seeds": [0, 1]}, "cross": False, "logo": True},
    ))
    results = run_grid(config, tmp_path / "run")
    logo = results[results.protocol == "logo"]
    assert sorted(logo.test_dataset) == ["gan_a", "gan_b"]
    assert sorted(results[results.protocol == "within"].seed) == [0, 1]


def test_shortcut_guard_warns_on_format_difference(tmp_path):
    for i in range(10):
        write_pattern_image(tmp_path / "d" / "real" / f"{i}.jpg", i, False, fmt="JPEG")
        write_pattern_image(tmp_path / "d" / "fake" / f"{i}.png", i, True, fmt="PNG")
    warnings = shortcut_warnings(load_dataset(tmp_path / "d"))
    assert any("file formats differ: real JPEG 100% vs fake PNG 100%" in w for w in warnings)
    make_real_fake_folder(tmp_path / "same", per_class=10)
    assert shortcut_warnings(load_dataset(tmp_path / "same")) == []


def test_robustness_rows_for_the_best_methods(tmp_path, two_datasets):
    config = load_config(write_config(
        tmp_path / "grid.yaml", datasets={"alpha": two_datasets["alpha"]},
        classifiers=["linear_probe", "knn1"], reductions=["none"],
        protocols={"within": {}, "cross": False,
                   "robustness": {"jpeg": [90, 30], "blur": [0, 2], "downscale": [0.5], "top": 1}},
    ))
    results = run_grid(config, tmp_path / "run")
    robust = results[results.protocol == "robustness"]
    assert sorted(zip(robust.perturbation, robust.level)) == [("blur", 0.0), ("blur", 2.0), ("downscale", 0.5), ("jpeg", 30.0), ("jpeg", 90.0)]
    assert robust.classifier.nunique() == 1  # top 1 method only
    assert (tmp_path / "run" / "figures" / "robustness.png").is_file()


def test_wrong_classifier_name_fails_before_heavy_imports(tmp_path, two_datasets):
    path = write_config(tmp_path / "bad.yaml", datasets=two_datasets, classifiers=["svm_rbf", "knn7"])
    result = subprocess.run(CLI + ["grid", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown classifier 'knn7'; valid: bagging," in result.stderr and "Traceback" not in result.stderr
    probe = (
        "import sys\nfrom deepfake_detect.config import load_config\n"
        f"try:\n    load_config({str(path)!r})\nexcept ValueError:\n    print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    checked = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert checked.stdout.split() == ["False", "False"], checked.stderr  # validation alone: no torch, no sklearn


def test_interrupted_grid_resumes_without_redoing_cells(tmp_path, two_datasets):
    path = write_config(tmp_path / "grid.yaml", datasets=two_datasets, jobs=1)
    run_dir = tmp_path / "run"
    ledger = run_dir / "cells.jsonl"
    process = subprocess.Popen(CLI + ["grid", str(path), "--out", str(run_dir)], stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if ledger.exists() and len(ledger.read_text().splitlines()) >= 20:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = [json.loads(line)["cell_id"] for line in ledger.read_text().splitlines() if line.strip()]
    assert before and not (run_dir / "results.csv").exists(), "expected to kill the grid midway"
    finished = subprocess.run(CLI + ["grid", str(path), "--out", str(run_dir)], capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    after = [json.loads(line)["cell_id"] for line in ledger.read_text().splitlines() if line.strip()]
    assert after[: len(before)] == before and len(after) == len(set(after))  # no cell done twice
    assert len(pd.read_csv(run_dir / "results.csv")) == len(after)


def test_reencode_removes_the_format_shortcut(tmp_path):
    for i in range(6):
        write_pattern_image(tmp_path / "d" / "real" / f"{i}.jpg", i, False, fmt="JPEG")
        write_pattern_image(tmp_path / "d" / "fake" / f"{i}.png", i, True, fmt="PNG")
    result = subprocess.run(CLI + ["reencode", str(tmp_path / "d"), str(tmp_path / "alike"), "--quality", "90"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    alike = load_dataset(tmp_path / "alike")
    assert alike.counts() == {"real": 6, "fake": 6}
    assert shortcut_warnings(alike) == []
