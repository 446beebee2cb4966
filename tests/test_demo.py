"""The demo set: real crops and simulated-generator fakes that differ only in up-sampling traces."""

import numpy as np
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


def test_demo_traces_are_detectable_and_the_demo_config_is_valid(tmp_path):
    root = make_demo_dataset(tmp_path / "demo", per_class=30, size=64)
    settings = demo_config(root, tmp_path / "cache")
    config = GridConfig.model_validate(settings)
    assert {"efficientnet_lite0", "fft_spectrum"} <= set(config.backbones) and len(config.transforms) >= 2
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
