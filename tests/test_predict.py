"""The train and predict commands: rows, formats, inputs, exit codes, and a real new process."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_real_fake_folder, run_cli

from deepfake_detect.detector import Detector
from deepfake_detect.cli.rows import collect_inputs

def invoke(*args: object):
    return run_cli(*args)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A detector trained through the CLI, and a folder to predict with two bad files in it."""
    root = tmp_path_factory.mktemp("cli")
    data = make_real_fake_folder(root / "data", per_class=10)
    result = invoke("train", data, "--backbone", "fft_spectrum", "--classifier", "linear_probe",
                    "--target-fpr", "0.2", "--cache", root / "cache", "--workers", "0", "-o", root / "detector")
    assert result.exit_code == 0, result.output
    assert "classic part also saved as classic.onnx" in " ".join(result.output.split())
    mixed = root / "mixed"
    (mixed / "nested").mkdir(parents=True)
    shutil.copy(data / "real" / "img000.png", mixed / "a_real.png")
    shutil.copy(data / "fake" / "img000.png", mixed / "nested" / "b_fake.png")
    good = (data / "real" / "img001.png").read_bytes()
    (mixed / "c_corrupt.png").write_bytes(good[: len(good) // 3])
    (mixed / "d_notes.jpg").write_text("not an image at all\n")
    (mixed / "readme.md").write_text("skipped silently: no image suffix\n")
    return {"root": root, "data": data, "detector": root / "detector", "mixed": mixed}


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_train_prints_validation_and_saves_a_folder(workspace):
    manifest = json.loads((workspace["detector"] / "manifest.json").read_text())
    assert manifest["threshold_rule"]["rule"] == "target_fpr" and manifest["threshold_rule"]["target_fpr"] == 0.2
    assert manifest["backbone"]["name"] == "fft_spectrum"


def test_train_usage_errors_are_one_line_exit_2(workspace, tmp_path):
    again = invoke("train", workspace["data"], "--backbone", "fft_spectrum", "-o", workspace["detector"])
    assert again.exit_code == 2 and "not empty" in again.stderr and "Traceback" not in again.output
    both = invoke("train", workspace["data"], "--from-grid", tmp_path, "-o", tmp_path / "d")
    assert both.exit_code == 2 and "--from-grid chooses" in both.stderr
    unknown = invoke("train", workspace["data"], "--backbone", "no_such", "-o", tmp_path / "d")
    assert unknown.exit_code == 2 and "unknown backbone" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_predict_folder_reports_bad_files_and_exits_1(workspace):
    result = invoke("predict", workspace["detector"], workspace["mixed"], "--format", "csv")
    assert result.exit_code == 1
    rows = read_csv(result.stdout)
    names = [Path(r["path"]).name for r in rows]
    assert names == ["a_real.png", "c_corrupt.png", "d_notes.jpg", "b_fake.png"]  # readme.md skipped
    by_name = dict(zip(names, rows))
    assert by_name["a_real.png"]["verdict"] == "no evidence found" and by_name["b_fake.png"]["verdict"] == "likely generated"
    assert 0 <= float(by_name["a_real.png"]["probability"]) <= 1
    assert by_name["c_corrupt.png"]["error"] and by_name["c_corrupt.png"]["probability"] == ""
    assert "not an image" in by_name["d_notes.jpg"]["error"]
    assert "4 images: 1 no evidence found, 1 likely generated, 2 unreadable" in result.stderr


def test_predict_all_good_exits_0_and_writes_jsonl_to_a_file(workspace, tmp_path):
    out = tmp_path / "rows.jsonl"
    result = invoke("predict", workspace["detector"], workspace["data"] / "real", "-o", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10 and all(r["error"] is None and r["verdict"] in ("no evidence found", "likely generated") for r in rows)
    assert result.stdout == ""


def test_predict_reads_a_list_of_paths_and_names_missing_files(workspace, tmp_path):
    listing = tmp_path / "paths.txt"
    listing.write_text(f"# images to check\n{workspace['data'] / 'fake' / 'img002.png'}\n\nmissing.png\n")
    result = invoke("predict", workspace["detector"], listing, "--format", "jsonl")
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["img002.png", "missing.png"]
    assert rows[0]["verdict"] == "likely generated" and "cannot read" in rows[1]["error"]
    assert Path(rows[1]["path"]) == tmp_path / "missing.png"  # relative to the list file


def test_predict_table_format(workspace):
    result = invoke("predict", workspace["detector"], workspace["mixed"], "--format", "table")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "verdict" in lines[0] and len(lines) == 5
    assert any("no evidence found" in line and "a_real.png" in line and "%" in line for line in lines)
    assert any("error" in line and "d_notes.jpg" in line and "not an image" in line for line in lines)


def test_explicitly_named_non_image_gets_an_error_row(workspace):
    result = invoke("predict", workspace["detector"], workspace["mixed"] / "readme.md", "-f", "csv")
    assert result.exit_code == 1
    assert "not an image" in read_csv(result.stdout)[0]["error"]


@pytest.mark.parametrize("args, message", [
    (["--format", "xml"], "--format must be one of"),
    (["--detector-is-missing"], None),
])
def test_predict_usage_errors_exit_2(workspace, args, message):
    result = invoke("predict", workspace["detector"], workspace["mixed"], *args)
    assert result.exit_code == 2
    if message:
        assert message in result.stderr


def test_predict_with_a_missing_detector_or_no_images(workspace, tmp_path):
    missing = invoke("predict", workspace["mixed"], "--detector", tmp_path / "nothing")
    assert missing.exit_code == 2 and "not a folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    nothing = invoke("predict", workspace["detector"], tmp_path / "empty")
    assert nothing.exit_code == 2 and "no images found" in nothing.stderr


def test_collect_inputs_keeps_order_and_recurses(workspace):
    inputs = collect_inputs([workspace["mixed"] / "d_notes.jpg", workspace["mixed"]])
    assert [p.name for p in inputs.paths] == ["d_notes.jpg", "a_real.png", "c_corrupt.png", "d_notes.jpg", "b_fake.png"]


@pytest.mark.slow
def test_a_new_process_gives_identical_scores_and_exit_code_1(workspace, tmp_path):
    """The real command in a fresh interpreter: it reloads the detector from disk alone."""
    env = {**os.environ, "DEEPFAKE_DETECT_CACHE": str(tmp_path / "unused-cache")}
    out = tmp_path / "rows.jsonl"
    completed = subprocess.run(
        [sys.executable, "-m", "deepfake_detect", "predict", str(workspace["detector"]), str(workspace["mixed"]),
         str(workspace["data"]), "-o", str(out)],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert completed.returncode == 1, completed.stderr
    assert "2 unreadable" in completed.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    here = Detector.load(workspace["detector"]).predict([Path(r["path"]) for r in rows])
    assert [r["probability"] for r in rows] == [h.probability for h in here]
    assert [r["error"] is None for r in rows] == [h.ok for h in here]
    assert sum(r["error"] is None for r in rows) == 22


def test_non_utf8_file_names_are_escaped_not_fatal(workspace, tmp_path):
    """A name that is not valid UTF-8 gets a row with its bytes escaped; every row is written."""
    folder = tmp_path / "names"
    folder.mkdir()
    source = (workspace["data"] / "real" / "img000.png").read_bytes()
    odd = os.fsdecode(b"caf\xe9-latin1.png")  # Latin-1 bytes: not UTF-8
    (folder / odd).write_bytes(source)
    for i in range(3):
        (folder / f"plain{i}.png").write_bytes(source)
    for suffix in ("csv", "jsonl", "json", "txt"):
        out = tmp_path / f"rows.{suffix}"
        result = invoke("predict", workspace["detector"], folder, "-o", out)
        assert result.exit_code == 0, result.output
        text = out.read_bytes().decode("utf-8")  # valid UTF-8 throughout
        if suffix.startswith("json"):
            text = text.replace("\\\\", "\\")  # JSON doubles the escape's backslash
        assert "caf\\xe9-latin1.png" in text and text.count("plain") == 3
    rows = json.loads((tmp_path / "rows.json").read_text(encoding="utf-8"))
    assert len(rows) == 4 and all(r["verdict"] in ("no evidence found", "likely generated") for r in rows)


def test_output_problems_are_one_line_exit_2(workspace, tmp_path):
    folder = invoke("predict", workspace["detector"], workspace["mixed"], "-o", tmp_path)
    assert folder.exit_code == 2 and "is a folder" in folder.stderr
    unknown = invoke("predict", workspace["detector"], workspace["mixed"], "-o", tmp_path / "rows.xlsx")
    assert unknown.exit_code == 2 and "cannot tell the format" in unknown.stderr
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    unwritable = invoke("predict", workspace["detector"], workspace["mixed"], "-o", blocked / "rows.csv")
    assert unwritable.exit_code == 2 and "cannot write" in unwritable.stderr
    for result in (folder, unknown, unwritable):
        assert len(result.stderr.strip().splitlines()) == 1


def test_small_images_are_scored_but_flagged_in_every_format(workspace, tmp_path):
    """48 px images against a 224 px detector: a verdict, and a note that says why to doubt it."""
    image = workspace["data"] / "real" / "img000.png"
    csv_rows = read_csv(invoke("predict", workspace["detector"], image, "-f", "csv").stdout)
    assert csv_rows[0]["verdict"] in ("no evidence found", "likely generated") and "small image: 48x48 px" in csv_rows[0]["note"]
    table = invoke("predict", workspace["detector"], image, "-f", "table")
    assert "small image" in table.stdout and "1 flagged" in table.stderr
    jsonl = json.loads(invoke("predict", workspace["detector"], image, "-f", "jsonl").stdout)
    assert "small image" in jsonl["note"]


def test_tiny_images_are_refused_by_name(workspace, tmp_path):
    from PIL import Image

    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(dot)
    result = invoke("predict", workspace["detector"], dot, "-f", "csv")
    assert result.exit_code == 1
    row = read_csv(result.stdout)[0]
    assert row["verdict"] == "" and "too small to carry evidence" in row["error"]
