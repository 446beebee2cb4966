"""`deepfake-detect make-fakes` through the real dispatcher: pairs, resume, a bad file, exit codes."""

from __future__ import annotations

import csv

from conftest import run_cli, write_pattern_image


def test_make_fakes_writes_pairs_resumes_and_names_bad_files(tmp_path):
    reals = tmp_path / "reals"
    for i in range(3):
        write_pattern_image(reals / f"photo{i}.png", seed=i, fake=False, size=72)
    out = tmp_path / "aligned"
    first = run_cli("make-fakes", reals, out, "-g", "tconv", "-g", "upsample_conv", "--size", "64")
    assert first.exit_code == 0, first.output
    with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and {r["generator"] for r in rows if r["label"] in ("1", "fake")} == {"tconv", "upsample_conv"}
    assert len({r["group"] for r in rows}) == 3  # a real and its two fakes share a group

    (reals / "broken.png").write_bytes(b"not a png")
    again = run_cli("make-fakes", reals, out, "-g", "tconv", "-g", "upsample_conv", "--size", "64")
    assert again.exit_code == 1  # one input could not be used, and it is named
    assert "broken.png" in again.stderr and "3 already done" in again.stderr


def test_make_fakes_needs_a_generator(tmp_path):
    result = run_cli("make-fakes", tmp_path, tmp_path / "out")
    assert result.exit_code == 2 and "--generator" in result.stderr
