"""The demo set: real crops and simulated-generator fakes that differ only in up-sampling traces."""

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from deepfake_detect.cli.grid_commands import demo_config
from deepfake_detect.grid.config import GridConfig
from deepfake_detect.data import load_dataset
from deepfake_detect.data.demo import GENERATORS, make_demo_dataset
from deepfake_detect.grid import run_grid


def test_demo_set_layout_and_content(tmp_path):
    root = make_demo_dataset(tmp_path / "demo", per_class=12, size=32)
    for generator in GENERATORS:
        data = load_dataset(root / generator)
        assert data.counts() == {"real": 12, "fake": 12}
        real = np.asarray(Image.open(root / generator / "0_real" / "00000.png"), dtype=float)
        fake = np.asarray(Image.open(root / generator / "1_fake" / "00000.png"), dtype=float)
        assert real.shape == fake.shape == (32, 32, 3)
        assert 0 < np.abs(real - fake).mean() < 40  # same content, different fine structure
    assert make_demo_dataset(tmp_path / "demo", per_class=12, size=32) == root  # reused


@pytest.mark.slow
def test_demo_traces_are_detectable_and_the_demo_config_is_valid(tmp_path):
    root = make_demo_dataset(tmp_path / "demo", per_class=30, size=64)
    settings = demo_config(root, tmp_path / "cache")
    config = GridConfig.model_validate(settings)
    assert {"efficientnet_lite0", "fft_spectrum"} <= set(config.backbones)
    full = GridConfig.model_validate(demo_config(root, tmp_path / "cache", full=True))
    assert len(full.transforms) >= 2 and len(full.classifier_steps()) > len(config.classifier_steps())
    small = config.model_copy(update={
        "backbones": ["fft_spectrum"], "transforms": config.transforms[:1], "reductions": {"none": {}},
        "classifiers": {"linear_probe": {}}, "protocols": config.protocols.model_copy(update={"robustness": None}),
    })
    results = run_grid(small, tmp_path / "run")
    within = results[results.protocol == "within"]
    assert within.auc.min() > 0.9, within[["train_dataset", "auc"]]


def test_the_demo_fakes_come_from_registered_generators():
    from deepfake_detect.generators import create_generator, list_generators

    assert set(GENERATORS) <= set(list_generators())
    for name in GENERATORS:
        assert create_generator(name).weights_id == "seed0"  # no weights: a seeded kernel


DEMO_SECTIONS = ("summary", "best", "generalization", "heatmaps", "roc", "robustness", "configuration", "results")


@pytest.mark.slow
def test_the_default_demo_shows_every_section_says_it_is_a_toy_and_trains_from_its_grid(tmp_path, monkeypatch):
    """`make demo` as a new user runs it (relative paths, from the checkout), then the README's
    `train --from-grid runs/demo` from another folder: the run's paths resolve from anywhere."""
    monkeypatch.chdir(tmp_path)
    demo = run_cli("demo", "--per-class", "12", "--cache", tmp_path / "cache")
    assert demo.exit_code == 0, demo.output
    assert demo.stderr.strip().splitlines()[-1].startswith("Toy data")  # the last thing the user reads
    page = (tmp_path / "runs" / "demo" / "report.html").read_text(encoding="utf-8")
    for anchor in DEMO_SECTIONS:
        assert f'<section id="{anchor}">' in page, anchor
    assert '<p class="notice" role="note">Toy data' in page
    assert "Toy data" in (tmp_path / "runs" / "demo" / "report.md").read_text(encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    trained = run_cli("train", "--from-grid", tmp_path / "runs" / "demo", "-o", tmp_path / "detector")
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "detector" / "manifest.json").is_file()


def test_the_readme_demo_section_promises_only_what_the_demo_runs(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Demo data", 1)[1].split("\n## ", 1)[0].lower()
    for full in (False, True):
        protocols = GridConfig.model_validate(demo_config(tmp_path, None, full)).protocols
        runs = {"leave-one-generator-out": protocols.logo, "leave-one-dataset-out": protocols.lodo,
                "cross-generator": bool(protocols.cross), "robustness": protocols.robustness is not None}
        for words, ran in runs.items():
            assert ran or words not in section, f"the README promises {words}; the demo (full={full}) does not run it"
    assert "--full" in section and "toy" in section


def test_naming_some_perturbations_runs_only_those():
    from deepfake_detect.config import RobustnessProtocol

    assert RobustnessProtocol.model_validate({"jpeg": [75, 50]}).levels() == [("jpeg", 75.0), ("jpeg", 50.0)]
    assert RobustnessProtocol.model_validate({"blur": [1], "datasets": ["a"]}).levels() == [("blur", 1.0)]
    every = RobustnessProtocol.model_validate({"top": 2}).levels()  # none named: all three at their defaults
    assert {kind for kind, _ in every} == {"jpeg", "blur", "downscale"}
