"""The command line's contract: every documented command exists, and every command turns a
missing file, bad YAML or an unknown name into one line and exit status 2, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import make_real_fake_folder, run_cli

from deepfake_detect.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def registered_commands() -> set[str]:
    return {command.name or command.callback.__name__.replace("_", "-") for command in app.registered_commands}


def test_every_documented_command_exists():
    commands_table = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z-]+)[ `]", commands_table, flags=re.M))
    assert documented == registered_commands()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("contract")
    bad_yaml = root / "bad.yaml"
    bad_yaml.write_text("datasets: {a: [unclosed\n")
    a_list = root / "list.yaml"
    a_list.write_text("- just\n- a list\n")
    data = make_real_fake_folder(root / "data", per_class=3)
    return {"root": root, "bad_yaml": bad_yaml, "list_yaml": a_list, "data": data, "missing": root / "missing"}


# For every command: a missing input, a broken config where it takes one, and an unknown name.
# Adding a command without a row here fails `test_every_command_has_error_cases`.
ERROR_CASES: dict[str, list[tuple[str, ...]]] = {
    "backbones": [],
    "generators": [],
    "extract": [("extract", "{missing}"), ("extract", "{data}", "--backbone", "no_such_net"),
                ("extract", "{data}", "--engine", "spark"), ("extract", "{data}", "--runtime", "tensorrt")],
    "reencode": [("reencode", "{missing}", "{root}/out"), ("reencode", "{data}", "{root}/out", "--image-format", "GIF")],
    "grid": [("grid", "{missing}.yaml"), ("grid", "{bad_yaml}"), ("grid", "{list_yaml}")],
    "report": [("report", "{missing}")],
    "demo": [("demo", "--per-class", "1")],
    "train": [("train", "{missing}", "-o", "{root}/det"), ("train", "{data}", "--classifier", "no_such", "-o", "{root}/det")],
    "predict": [("predict", "{data}", "--detector", "{missing}"), ("predict", "{data}", "--trust-dir", "{missing}"),
                ("predict", "{missing}"), ("predict", "{data}", "--engine", "spark")],
    "inspect": [("inspect", "{missing}"), ("inspect", "{data}", "--trust-dir", "{missing}"),
                ("inspect", "{data}", "--format", "csv")],
    "reference": [("reference", "no_such", "--weights", "random", "-o", "{root}/ref"),
                  ("reference", "ferretnet_s", "-o", "{root}/ref")],
    "serve": [("serve", "{missing}")],
    "finetune": [("finetune", "{missing}", "--out", "{root}/ft"), ("finetune", "--config", "{bad_yaml}"),
                 ("finetune", "{data}", "--out", "{root}/ft", "--arch", "no_such")],
    "make-fakes": [("make-fakes", "{missing}", "{root}/fakes", "--generator", "tconv"),
                   ("make-fakes", "{data}", "{root}/fakes", "--generator", "no_such"),
                   ("make-fakes", "{data}", "{root}/fakes", "-g", "tconv", "--image-format", "webp")],
    "adapt": [("adapt", "{missing}", "--fakes", "{data}", "-o", "{root}/adapted")],
    "ensemble": [("ensemble", "{missing}", "{missing}", "--reals", "{data}", "-o", "{root}/ensemble"),
                 ("ensemble", "{data}", "{data}", "--reals", "{missing}", "-o", "{root}/ensemble")],
    "calibrate": [("calibrate", "{missing}", "--reals", "{data}", "-o", "{root}/calibrated"),
                  ("calibrate", "{missing}", "--reals", "{missing}", "-o", "{root}/calibrated")],
}


def test_every_command_has_error_cases():
    assert registered_commands() <= set(ERROR_CASES), registered_commands() - set(ERROR_CASES)


@pytest.mark.parametrize(
    "args", [case for name in sorted(ERROR_CASES) for case in ERROR_CASES[name]], ids=lambda a: " ".join(a[:2])
)
def test_user_errors_are_one_line_and_exit_2(args, files):
    if args[0] not in registered_commands():
        pytest.skip(f"command {args[0]} is not registered in this build")
    result = run_cli(*(a.format(**files) for a in args))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output


def raising_command(exception: BaseException):
    """A throw-away command registered for one test, removed after it."""
    from deepfake_detect import cli

    @cli.app.command("raise-it")
    def raise_it() -> None:
        raise exception

    return cli.app.registered_commands


def test_a_bug_is_a_traceback_not_a_user_error():
    commands = raising_command(KeyError("a programming error"))
    try:
        with pytest.raises(KeyError, match="a programming error"):
            run_cli("raise-it")
    finally:
        commands.pop()


def test_ctrl_c_says_finished_work_is_saved():
    commands = raising_command(KeyboardInterrupt())
    try:
        result = run_cli("raise-it")
    finally:
        commands.pop()
    assert result.exit_code == 130
    assert "finished work is saved" in result.stderr


@pytest.mark.parametrize("spelling", ["png", "PNG", "Png"])
def test_image_format_is_spelled_alike_by_every_command_in_any_case(tmp_path, spelling):
    """`reencode` and `make-fakes` take the same lower-case names, in any case."""
    from conftest import write_pattern_image

    reals = tmp_path / "reals"
    for i in range(2):
        write_pattern_image(reals / f"photo{i}.png", seed=i, fake=False, size=72)
    made = run_cli("make-fakes", reals, tmp_path / "pairs", "-g", "tconv", "--size", "64", "--image-format", spelling)
    assert made.exit_code == 0, made.stderr
    assert len(list((tmp_path / "pairs").rglob("*.png"))) == 4  # two reals, two fakes
    redone = run_cli("reencode", tmp_path / "pairs", tmp_path / "alike", "--image-format", spelling)
    assert redone.exit_code == 0, redone.stderr
    assert len(list((tmp_path / "alike").rglob("*.png"))) == 4


# --- the first hour: help, version, devices, names ------------------------------------------------


def test_short_help_and_no_type_placeholder_for_flags(monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")
    assert run_cli("-h").exit_code == 0
    for command in sorted(registered_commands()):
        result = run_cli(command, "-h")
        assert result.exit_code == 0 and "Usage" in result.stdout, command
        assert "<bool>" not in result.stdout, command


def test_version_names_the_runtimes_and_the_builtin_detector():
    from importlib import metadata

    result = run_cli("--version")
    assert result.exit_code == 0
    text = result.stdout
    assert f"deepfake-detect {metadata.version('deepfake-detect')}" in text
    assert f"torch {metadata.version('torch')}" in text and f"onnxruntime {metadata.version('onnxruntime')}" in text
    from deepfake_detect.detector import BUILTIN_DETECTOR

    manifest = json.loads((BUILTIN_DETECTOR / "manifest.json").read_text())
    assert "built-in detector: " in text and f"({manifest['kind']})" in text and "AUC on unseen generators" in text
    for member in manifest["backbone"].get("members", [manifest["backbone"]["name"]]):
        assert member in text
    for test_set in manifest["measured"]["test_sets"]:
        assert f"{test_set['name']} {test_set['auc']:.3f}" in text


def test_finetune_help_lists_every_architecture_it_accepts(monkeypatch):
    from deepfake_detect.backbones import list_finetunable

    monkeypatch.setenv("COLUMNS", "400")
    text = run_cli("finetune", "--help").stdout
    assert all(name in text for name in list_finetunable()), text
    assert any(name.startswith("patchnet_") for name in list_finetunable())


@pytest.mark.parametrize("device", ["gpu", "cuda:7", "no-such"])
def test_a_device_this_machine_lacks_is_one_line_naming_those_present(device, files):
    from deepfake_detect.runtime import devices_present

    if device in devices_present():
        pytest.skip(f"this machine has {device}")
    image = next((files["data"] / "real").iterdir())
    result = run_cli("predict", image, "--device", device)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--device {device}" in lines[0] and "devices present: cpu" in lines[0]


def test_predict_a_missing_folder_is_exit_2(files):
    result = run_cli("predict", f"{files['missing']}/")
    assert result.exit_code == 2 and "no such file or folder" in result.stderr


@pytest.mark.slow  # 6-10 s: `make test` runs it, `make check` stays under 90 s
def test_calibrate_and_adapt_take_builtin_as_the_builtin_detector(files, tmp_path):
    import json

    from deepfake_detect.detector.builtin import BUILTIN_DETECTOR

    data = make_real_fake_folder(tmp_path / "data", per_class=10, size=64)  # calibrate needs 10 distinct reals
    calibrated = run_cli("calibrate", "builtin", "--reals", data / "real", "-o", tmp_path / "calibrated")
    assert calibrated.exit_code == 0, calibrated.output
    manifest = json.loads((tmp_path / "calibrated" / "manifest.json").read_text())
    original = json.loads((BUILTIN_DETECTOR / "manifest.json").read_text())
    assert manifest["threshold_rule"]["calibration_reals"] == 10 and manifest["files"] == original["files"]
    adapted = run_cli("adapt", "builtin", "--fakes", data / "fake", "--reals", data / "real", "--steps", "2",
                      "-o", tmp_path / "adapted")
    assert adapted.exit_code == 0, adapted.output
    assert (tmp_path / "adapted" / "manifest.json").is_file()


@pytest.fixture
def a_terminal(monkeypatch):
    """stderr as a person's terminal (rich decides by `is_terminal`)."""
    from deepfake_detect.console import console

    monkeypatch.setattr(console, "_force_terminal", True)


@pytest.mark.slow
def test_long_commands_say_what_they_do_before_the_heavy_work(files, tmp_path, a_terminal):
    """On a terminal, the first line of make-fakes, finetune and adapt comes before generators,
    networks or data load, so a user sees at once that the command runs."""
    fakes = run_cli("make-fakes", files["data"] / "real", tmp_path / "fakes", "-g", "tconv", "--size", "32")
    assert fakes.exit_code == 0, fakes.output
    assert fakes.stderr.startswith("make-fakes: "), fakes.stderr
    data = make_real_fake_folder(tmp_path / "data", per_class=12, size=32)
    tuned = run_cli("finetune", data, "--out", tmp_path / "ft", "--arch", "patchnet_npr_s", "--weights", "random",
                    "--epochs", "1", "--batch-size", "4", "--image-size", "32", "--workers", "0", "--bootstrap", "0")
    assert tuned.exit_code == 0, tuned.output
    assert tuned.stderr.startswith("finetune: patchnet_npr_s on "), tuned.stderr
    adapted = run_cli("adapt", "builtin", "--fakes", data / "fake", "--reals", data / "real", "--steps", "1",
                      "-o", tmp_path / "adapted")
    assert adapted.exit_code == 0 and adapted.stderr.startswith("adapt: "), adapted.stderr
