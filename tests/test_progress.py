"""Progress: the library reports through one seam; in a pipe or a log a line every few seconds."""

from __future__ import annotations

import logging

from conftest import make_real_fake_folder, run_cli

from deepfake_detect.progress import LINE_INTERVAL, progress_bar, throttled_progress, use_progress


class Clock:
    """Time that moves only when the test says so: rate limiting without timed tests."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_is_a_line_every_few_seconds_not_one_per_item():
    clock, lines = Clock(), []
    with throttled_progress("extract", 1000, "img", lines.append, clock=clock) as advance:
        for _ in range(1000):  # 1000 images, 12 s in all
            clock.now += 0.012
            advance(1)
    assert len(lines) == int(12 // LINE_INTERVAL) + 1
    assert lines[-1].startswith("extract: 1000/1000 (83.3 img/s)")


def test_a_quick_job_gives_one_final_line_and_an_empty_one_none():
    clock, lines = Clock(), []
    with throttled_progress("score", 3, "img", lines.append, clock=clock) as advance:
        advance(1)
        clock.now += 1.5
        advance(2)
    with throttled_progress("nothing to do", 0, "img", lines.append, clock=clock):
        pass
    assert lines == ["score: 3/3 (2.0 img/s)"]


def test_library_progress_is_logged_unless_a_program_installs_its_own(caplog):
    with caplog.at_level(logging.INFO, logger="deepfake_detect"), progress_bar("work", 2) as advance:
        advance(2)
    assert [(r.name, r.getMessage().split(" (")[0]) for r in caplog.records] == [("deepfake_detect.progress", "work: 2/2")]
    seen = []

    def mine(description, total, unit):
        return throttled_progress(description, total, unit, seen.append)

    caplog.clear()
    with use_progress(mine), progress_bar("work", 1) as advance:
        advance(1)
    assert caplog.records == [] and seen[0].startswith("work: 1/1")


def test_predict_in_a_pipe_prints_a_few_progress_lines_not_one_per_image(tmp_path):
    folder = make_real_fake_folder(tmp_path / "photos", per_class=15, size=64)
    result = run_cli("predict", folder, "--format", "csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("predict: ")]
    assert 1 <= len(progress) <= 3, result.stderr  # 30 images: one line at the end, more only if it took >5 s
    assert progress[-1].startswith("predict: 30/30")
