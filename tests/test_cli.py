"""The command line's contract: every documented command exists, and every command turns a
missing file, bad YAML or an unknown name into one line and exit status 2, never a traceback."""

from __future__ import annotations

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
    "extract": [("extract", "{missing}"), ("extract", "{data}", "--backbone", "no_such_net")],
    "reencode": [("reencode", "{missing}", "{root}/out"), ("reencode", "{data}", "{root}/out", "--image-format", "GIF")],
    "grid": [("grid", "{missing}.yaml"), ("grid", "{bad_yaml}"), ("grid", "{list_yaml}")],
    "report": [("report", "{missing}")],
    "demo": [("demo", "--per-class", "1")],
    "train": [("train", "{missing}", "-o", "{root}/det"), ("train", "{data}", "--classifier", "no_such", "-o", "{root}/det")],
    "predict": [("predict", "{data}", "--detector", "{missing}"), ("predict", "{data}", "--trust-dir", "{missing}")],
    "inspect": [("inspect", "{missing}"), ("inspect", "{data}", "--trust-dir", "{missing}"),
                ("inspect", "{data}", "--format", "csv")],
    "reference": [("reference", "no_such", "--weights", "random", "-o", "{root}/ref"),
                  ("reference", "ferretnet_s", "-o", "{root}/ref")],
    "serve": [("serve", "{missing}")],
    "finetune": [("finetune", "{missing}", "--out", "{root}/ft"), ("finetune", "--config", "{bad_yaml}"),
                 ("finetune", "{data}", "--out", "{root}/ft", "--arch", "no_such")],
    "make-fakes": [("make-fakes", "{missing}", "{root}/fakes", "--generator", "tconv"),
                   ("make-fakes", "{data}", "{root}/fakes", "--generator", "no_such")],
    "adapt": [("adapt", "{missing}", "--fakes", "{data}", "-o", "{root}/adapted")],
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
