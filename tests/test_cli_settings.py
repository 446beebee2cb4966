"""Settings have one source (issue 18): each flag's --help default is read from the settings
model, every model field has a flag (or is named file-only), and one merge puts flags over a file."""

from __future__ import annotations

import click
import pytest
import typer.main

from deepfake_detect.cli import app
from deepfake_detect.cli.detector_commands import TRAIN_PLACES
from deepfake_detect.cli.finetune_command import FILE_ONLY, NOT_CONFIG, PLACES, resolve_config
from deepfake_detect.cli.settings import merge_settings, model_default, shown
from deepfake_detect.train.plan import TrainingPlan
from deepfake_detect.finetune.config import AugmentSpec, FinetuneConfig

TRAIN_NOT_PLAN = {"output", "from_grid", "batch_size", "workers", "overwrite"}
"""`train`'s options that are not `TrainingPlan` fields (where the output goes, how it runs)."""
PLAN_WITHOUT_FLAG = {"reduction_params", "classifier_params", "dataset_name", "origin"}
"""`TrainingPlan` fields only `--from-grid` fills (a grid run's parameters and where it came from)."""
REQUIRED = {"dataset", "out"}


def params(command: str) -> dict[str, click.Parameter]:
    return {p.name: p for p in typer.main.get_command(app).commands[command].params}


CASES = {
    "finetune": (FinetuneConfig, NOT_CONFIG, PLACES),
    "train": (TrainingPlan, TRAIN_NOT_PLAN, TRAIN_PLACES),
}


@pytest.mark.parametrize("command", CASES)
def test_every_flag_defaults_to_not_given_and_shows_the_models_default(command):
    model, not_settings, places = CASES[command]
    for name, param in params(command).items():
        if name in not_settings:
            continue
        assert param.default in (None, ()), f"--{name} has its own default {param.default!r}"
        if name not in REQUIRED and isinstance(param, click.Option):
            expected = f"(default: {shown(model_default(model, places.get(name, name)))})"
            assert expected in " ".join(param.help.split()), f"{command} --{name}: {param.help!r} lacks {expected}"


def test_every_finetune_setting_has_a_flag():
    flags = set(params("finetune")) - NOT_CONFIG
    fields = set(FinetuneConfig.model_fields) - FILE_ONLY
    nested = {place.split(".")[1] for place in PLACES.values()}
    assert fields <= flags, f"FinetuneConfig fields without a flag: {sorted(fields - flags)}"
    assert nested <= set(AugmentSpec.model_fields)
    assert {f for f in AugmentSpec.model_fields if f.endswith("_prob")} <= nested  # every augmentation's chance


def test_every_training_plan_field_has_a_flag():
    flags = set(params("train")) - TRAIN_NOT_PLAN
    fields = set(TrainingPlan.model_fields) - PLAN_WITHOUT_FLAG
    assert {TRAIN_PLACES.get(flag, flag).split(".")[0] for flag in flags} == fields


def test_flags_win_over_the_file_and_the_file_over_the_defaults(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("dataset: photos\nout: run\nepochs: 3\nlr: 0.01\naugment: {blur_prob: 0.5, jpeg_prob: 0.2}\n")
    given = {"epochs": 7, "blur_prob": 0.0, "flip": False, "test": (), "lr": None}
    settings = resolve_config(given, config)
    assert (settings.epochs, settings.lr, settings.batch_size) == (7, 0.01, FinetuneConfig.model_fields["batch_size"].default)
    assert (settings.augment.blur_prob, settings.augment.jpeg_prob, settings.augment.flip) == (0.0, 0.2, False)
    assert settings.test == [] and settings.augment.crop is True


def test_merge_settings_never_changes_the_file_values():
    from_file = {"augment": {"crop": True}}
    merged = merge_settings({"crop": False}, from_file, {"crop": "augment.crop"})
    assert merged == {"augment": {"crop": False}} and from_file == {"augment": {"crop": True}}
