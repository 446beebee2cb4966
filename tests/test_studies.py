"""The study scripts work on real folders: make-fakes outputs joined by group, detector folders
scored on sets with AUC, interval and the JPEG re-encoding check, a rank-mean row."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest
from conftest import make_real_fake_folder, run_cli, write_pattern_image

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def study(name: str):
    spec = importlib.util.spec_from_file_location(f"studies_{name}", STUDIES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """The same 6 reals through two generators in two make-fakes folders (the second gets 4)."""
    root = tmp_path_factory.mktemp("studies")
    for i in range(6):
        write_pattern_image(root / "reals" / f"photo{i}.png", seed=i, fake=False, size=40)
    first = run_cli("make-fakes", root / "reals", root / "a", "-g", "tconv", "--size", "32")
    second = run_cli("make-fakes", root / "reals", root / "b", "-g", "random_upsamplers", "--size", "32",
                     "--max-images", "4")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    return root / "a", root / "b"


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_combine_joins_generators_run_apart_into_the_same_groups(two_runs, tmp_path):
    combine = study("combine")
    combine.main([str(tmp_path / "all.csv"), *map(str, two_runs)])
    combine.main([str(tmp_path / "complete.csv"), *map(str, two_runs), "--complete"])
    combine.main([str(tmp_path / "one.csv"), str(tmp_path / "all.csv"), "--generators", "random_upsamplers"])
    every, complete, one = (read(tmp_path / f"{n}.csv") for n in ("all", "complete", "one"))
    groups = {row["group"] for row in every}
    assert len(groups) == 6 and sum(row["label"] == "real" for row in every) == 6
    assert len({row["group"] for row in complete}) == 4 and len(complete) == 4 * 3
    assert {row["generator"] for row in one if row["label"] == "fake"} == {"random_upsamplers"}
    assert all(Path(row["path"]).is_file() for row in every)


def test_score_reports_auc_intervals_jpeg_and_a_rank_mean(tmp_path):
    score = study("score")
    root = tmp_path / "data"
    make_real_fake_folder(root / "pattern", per_class=8, size=136)
    rows = tmp_path / "rows.jsonl"
    from deepfake_detect.detector import BUILTIN_DETECTOR

    score.main(["builtin", str(BUILTIN_DETECTOR), "--sets", "pattern", "--data-root", str(root), "--rank-mean", "--out", str(rows)])
    lines = [json.loads(line) for line in rows.read_text().splitlines()]
    assert len(lines) == 3 and lines[-1]["detector"].startswith("rank-mean(")
    cell = lines[0]["sets"]["pattern"]
    assert cell["auc_low"] <= cell["auc"] <= cell["auc_high"] and "pattern@jpeg75" in lines[0]["sets"]
    assert lines[0]["sets"] == lines[1]["sets"] and lines[0]["mean_auc"] == cell["auc"]
