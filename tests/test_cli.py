"""The command line offers every command the README documents."""

import re
from pathlib import Path

from typer.testing import CliRunner

from deepfake_detect.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_documented_command_exists():
    commands_table = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z]+)[ `]", commands_table, flags=re.M))
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = set(re.findall(r"^│ ([a-z]+) ", result.output, flags=re.M))
    assert documented >= {"extract", "grid", "report", "finetune", "train", "predict", "serve", "demo", "backbones"}
    assert documented <= listed, documented - listed
