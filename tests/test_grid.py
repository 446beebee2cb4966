"""The grid end to end: real files, the real cache, real processes, every registered model."""

import json
import logging
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
from deepfake_detect.grid.config import load_config
from deepfake_detect.data import load_dataset
from deepfake_detect.grid import run_grid
from deepfake_detect.report import write_report
from deepfake_detect.runs import RESULT_COLUMNS
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


@pytest.mark.slow
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
    for name in ("results.csv", "results.parquet", "config.yaml", "run.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert len(pd.read_parquet(tmp_path / "run" / "results.parquet")) == len(results)
    assert len(list((tmp_path / "run" / "scores").glob("*.npz"))) == len(results)
    saved = load_config(tmp_path / "run" / "config.yaml")  # the exact config, reusable as is
    assert saved.datasets == config.datasets and saved.classifiers == config.classifiers

    again = run_grid(config, tmp_path / "run")  # everything is done: nothing is refitted
    lines = (tmp_path / "run" / "cells.jsonl").read_text().splitlines()
    assert len(lines) == len(results) == len(again)


@pytest.mark.slow
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


@pytest.mark.slow
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
    write_report(tmp_path / "run")  # the CLI writes it after the run
    assert (tmp_path / "run" / "figures" / "robustness.png").is_file()


@pytest.mark.slow
def test_a_config_mistake_is_one_line_from_the_command_line(tmp_path, two_datasets):
    path = write_config(tmp_path / "bad.yaml", datasets=two_datasets, classifiers={"svm_rbf": {"C": "high"}})
    result = subprocess.run(CLI + ["grid", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "classifier 'svm_rbf': parameter 'C'" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # no run folder for a config that cannot run


def test_one_classifier_twice_and_two_blurs_are_distinct_methods(tmp_path, two_datasets):
    config = load_config(write_config(
        tmp_path / "grid.yaml", datasets={"alpha": two_datasets["alpha"]}, reductions=["none"],
        classifiers={"linear_probe": {}, "linear_probe@C=0.01": {"C": 0.01}},
        transforms=["blur", {"name": "blur", "blur_sigma": [3, 4]}],
        protocols={"within": {}, "cross": False}, jobs=1,
    ))
    results = run_grid(config, tmp_path / "run")
    methods = set(zip(results["transform"], results["classifier"]))
    assert len(methods) == len(results) == 4  # 2 transforms x 2 classifiers, one within cell each
    assert set(results.classifier) == {"linear_probe", "linear_probe@C=0.01"}
    assert results["transform"].nunique() == 2


def test_cross_pairs_keep_only_the_cells_asked_for(tmp_path, two_datasets):
    # e.g. a training set that holds another set's reals must not be tested on that set
    datasets = two_datasets | {"gamma": str(make_real_fake_folder(tmp_path / "gamma", per_class=16, size=32, seed=3))}
    config = load_config(write_config(
        tmp_path / "grid.yaml", datasets=datasets, reductions=["none"], classifiers=["linear_probe"],
        protocols={"within": None, "cross": {"alpha": ["beta", "gamma"], "gamma": ["beta"]}}, jobs=1,
    ))
    results = run_grid(config, tmp_path / "run")
    assert sorted(zip(results.train_dataset, results.test_dataset)) == [
        ("alpha", "beta"), ("alpha", "gamma"), ("gamma", "beta")]
    assert results.auc.notna().all()


def worker_pids(parent: int) -> set[int]:
    """Live processes whose parent is `parent` (from /proc)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def survivors(pids: set[int], patience: float = 30) -> list[int]:
    """The processes still alive once they had `patience` seconds to exit."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


def grid_with_workers(tmp_path: Path, datasets: dict, **popen) -> tuple[subprocess.Popen, set[int], Path]:
    """A real `grid` process with two workers, once both have started."""
    path = write_config(tmp_path / "grid.yaml", datasets=datasets, jobs=2)
    run_dir = tmp_path / "run"
    process = subprocess.Popen(CLI + ["grid", str(path), "--out", str(run_dir)], **popen)
    workers: set[int] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None and len(workers) < 2:
        workers |= worker_pids(process.pid)
        time.sleep(0.2)
    assert process.poll() is None and workers, "expected the grid to start its workers"
    return process, workers, run_dir


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find worker processes")
def test_workers_die_with_a_killed_grid(tmp_path, two_datasets):
    process, workers, _ = grid_with_workers(tmp_path, two_datasets, stderr=subprocess.DEVNULL)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not survivors(workers), "worker processes outlived the killed grid"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find worker processes")
def test_ctrl_c_stops_workers_and_ends_as_an_interruption(tmp_path, two_datasets):
    process, workers, run_dir = grid_with_workers(
        tmp_path, two_datasets, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in output, output
    assert "finished work is saved" in output
    assert not survivors(workers)
    assert (run_dir / "config.yaml").is_file()


@pytest.mark.slow
def test_interrupted_grid_resumes_without_redoing_cells(tmp_path, two_datasets):
    path = write_config(tmp_path / "grid.yaml", datasets=two_datasets, jobs=1)
    run_dir = tmp_path / "run"
    ledger = run_dir / "cells.jsonl"
    process = subprocess.Popen(CLI + ["grid", str(path), "--out", str(run_dir)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
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


def test_a_grid_resumes_after_a_torn_ledger_line(tmp_path, two_datasets):
    config = load_config(write_config(
        tmp_path / "grid.yaml", datasets={"alpha": two_datasets["alpha"]}, reductions=["none"],
        classifiers=["linear_probe", "lda"], protocols={"within": {"seeds": [0, 1]}, "cross": False}, jobs=1,
    ))
    first = run_grid(config, tmp_path / "run")
    ledger = tmp_path / "run" / "cells.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    ledger.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-line
    again = run_grid(config, tmp_path / "run")
    assert sorted(again.cell_id) == sorted(first.cell_id)
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert sorted(row["cell_id"] for row in rows) == sorted(first.cell_id)  # every line whole again


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


def test_run_grid_prints_nothing_and_logs_what_it_says(tmp_path, capfd, caplog):
    """The library logs, only the command line prints (issue 18): from Python, `run_grid` is
    silent on stdout and stderr, and its warnings and progress are log records to capture."""
    for i in range(8):  # a format shortcut, so the grid has a warning to give
        write_pattern_image(tmp_path / "d" / "real" / f"{i}.jpg", i, False, fmt="JPEG")
        write_pattern_image(tmp_path / "d" / "fake" / f"{i}.png", i, True, fmt="PNG")
    config = load_config(write_config(
        tmp_path / "grid.yaml", datasets={"d": str(tmp_path / "d")}, reductions=["none"], classifiers=["linear_probe"],
        protocols={"cross": False}, bootstrap=0, jobs=1,
    ))
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="deepfake_detect"):
        results = run_grid(config, tmp_path / "run")
    assert len(results) == 1
    assert capfd.readouterr() == ("", "")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("file formats differ" in r.getMessage() for r in warnings)
    assert all(r.name.startswith("deepfake_detect.") for r in caplog.records)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("fft_spectrum [none]") and "16/16" in m for m in messages)  # extraction progress
    assert any("1 cells in" in m for m in messages)
