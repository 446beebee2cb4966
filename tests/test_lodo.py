"""Leave-one-dataset-out: a real grid on three folders of real images, its report, and the pooling."""

import json
import math
import shutil

import numpy as np
import pytest
from conftest import make_real_fake_folder
from test_grid import two_datasets, write_config  # noqa: F401 (a fixture, used by name)

from deepfake_detect.grid.config import load_config
from deepfake_detect.evaluate.protocols import FeatureTable, leave_one_dataset_out_tasks, pool_tables
from deepfake_detect.grid import run_grid
from deepfake_detect.report import write_report

NAMES = ("alpha", "beta", "gamma")
CLASSIFIERS = ["linear_probe", "knn1"]


def table(name: str, n: int, groups: list[str | None] | None, generators: list[str]) -> FeatureTable:
    rng = np.random.default_rng(n)
    return FeatureTable(name, rng.normal(size=(n, 3)), np.arange(n) % 2, [f"{name}{i}" for i in range(n)],
                        np.array(generators), groups)


def test_pool_tables_keeps_every_row_with_its_group_and_generator():
    a = table("a", 4, ["s1", "s1", "s2", "s2"], ["gan", "gan", "gan", "gan"])
    b = table("b", 2, None, ["sd", "vq"])
    pooled = pool_tables("all-but-c", [a, b])
    assert pooled.dataset == "all-but-c" and pooled.pooled == ("a", "b")
    np.testing.assert_array_equal(pooled.X, np.concatenate([a.X, b.X]))
    np.testing.assert_array_equal(pooled.y, np.concatenate([a.y, b.y]))
    assert pooled.ids == a.ids + b.ids
    assert pooled.generators.tolist() == ["gan"] * 4 + ["sd", "vq"]
    assert pooled.groups == ["s1", "s1", "s2", "s2", None, None]  # b's rows: each a group of its own
    assert pool_tables("x", [b, b]).groups is None  # nobody had groups: still none
    with pytest.raises(ValueError, match="nothing to pool"):
        pool_tables("x", [])


def test_each_dataset_is_held_out_once_and_trained_on_the_others():
    tables = {name: table(name, n, None, [name] * n) for name, n in zip("abc", (4, 6, 8))}
    tasks = leave_one_dataset_out_tasks(tables, seed=3)
    assert [(t.train_dataset, t.tests[0].dataset, t.protocol) for t in tasks] == [
        ("all-but-a", "a", "lodo"), ("all-but-b", "b", "lodo"), ("all-but-c", "c", "lodo")]
    assert [t.pooled for t in tasks] == [("b", "c"), ("a", "c"), ("a", "b")]
    assert [len(t.train_rows) for t in tasks] == [14, 12, 10]
    assert [len(t.tests[0].rows) for t in tasks] == [4, 6, 8]
    assert leave_one_dataset_out_tasks({k: tables[k] for k in "ab"}, seed=3) == []  # two: that is cross


@pytest.fixture
def three_datasets(tmp_path):
    return {name: str(make_real_fake_folder(tmp_path / name, per_class=10, size=32, seed=seed))
            for seed, name in enumerate(NAMES, start=1)}


def lodo_config(tmp_path, datasets: dict):
    return load_config(write_config(
        tmp_path / "grid.yaml", datasets=datasets, classifiers=CLASSIFIERS, reductions=["none"],
        protocols={"within": None, "cross": False, "lodo": True}, jobs=1,
    ))


def ledger_ids(run_dir) -> list[str]:
    return [json.loads(line)["cell_id"] for line in (run_dir / "cells.jsonl").read_text().splitlines()]


def test_a_lodo_grid_reports_and_resumes(tmp_path, three_datasets):
    run_dir = tmp_path / "run"
    results = run_grid(lodo_config(tmp_path, three_datasets), run_dir)
    assert set(results.protocol) == {"lodo"}
    assert len(results) == len(NAMES) * len(CLASSIFIERS)  # one row per held-out set and method
    for classifier in CLASSIFIERS:
        rows = results[results.classifier == classifier]
        assert sorted(zip(rows.train_dataset, rows.test_dataset)) == [(f"all-but-{n}", n) for n in NAMES]
    assert all(math.isfinite(auc) for auc in results.auc)
    assert set(results.n_train) == {40} and set(results.n_test) == {20}  # two sets of 20 vs one

    write_report(run_dir)
    markdown = (run_dir / "report.md").read_text()
    assert "Leave-one-dataset-out" in markdown and "held-out dataset" in markdown
    assert "all-but-alpha" not in markdown.split("Datasets")[1].splitlines()[0]  # datasets listed as they are
    assert (run_dir / "figures" / "lodo.png").is_file()
    assert "Leave-one-dataset-out" in (run_dir / "report.html").read_text()

    before = ledger_ids(run_dir)
    again = run_grid(lodo_config(tmp_path, three_datasets), run_dir)  # finished: nothing is refitted
    assert ledger_ids(run_dir) == before and sorted(again.cell_id) == sorted(results.cell_id)

    moved = dict(three_datasets, gamma=str(shutil.copytree(three_datasets["gamma"], tmp_path / "gamma2")))
    run_grid(lodo_config(tmp_path, moved), run_dir)  # gamma's sources are part of the cells it trains
    added = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()[len(before):]]
    assert sorted(row["train_dataset"] for row in added) == sorted(["all-but-alpha", "all-but-beta"] * len(CLASSIFIERS))


def test_lodo_with_two_datasets_warns_and_runs_the_rest(tmp_path, two_datasets, caplog):
    config = load_config(write_config(
        tmp_path / "grid.yaml", datasets=two_datasets, classifiers=["linear_probe"], reductions=["none"],
        protocols={"within": None, "cross": True, "lodo": True}, jobs=1,
    ))
    results = run_grid(config, tmp_path / "run")
    assert set(results.protocol) == {"cross"}
    err = " ".join(caplog.text.split())
    assert err.count("leave-one-dataset-out needs three or more datasets") == 1


def test_only_lodo_keeps_the_pooled_sets_prefix(tmp_path):
    datasets = {"all-but-beta": "alpha", "beta": "beta"}  # with lodo: a config error (test_config)
    write_config(tmp_path / "grid.yaml", datasets=datasets, protocols={"lodo": False})
    assert list(load_config(tmp_path / "grid.yaml").datasets) == list(datasets)
