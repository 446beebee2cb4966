"""Few-shot adaptation end to end: real images, a random-initialised FerretNet-S twin, real folders."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_real_fake_folder, run_cli

from deepfake_detect.adapt import AdaptSettings, adapt_detector, few_shot_curve
from deepfake_detect.data.walk import image_files
from deepfake_detect.data import load_dataset
from deepfake_detect.data.images import file_image_id
from deepfake_detect.detector import BUILTIN_DETECTOR, Detector
from deepfake_detect.convert.checkpoint import make_reference_detector

FAST = ("--steps", "2", "--lr", "0.01")


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    return make_reference_detector("ferretnet_s", "random", tmp_path_factory.mktemp("adapt") / "twin")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Fakes carry a period-2 checkerboard (a simulated up-sampling decoder); 128 px, half the twin's
    256 px crop (smaller images are too small to judge) and mirror-padded to it."""
    return make_real_fake_folder(tmp_path_factory.mktemp("adapt") / "data", per_class=6, size=128, seed=3)


@pytest.mark.slow
def test_adapt_with_reals_writes_a_recalibrated_detector(twin, data, tmp_path):
    result = run_cli("adapt", twin, "--fakes", data / "fake", "--reals", data / "real", "-k", "3", "-o", tmp_path / "new", *FAST)
    assert result.exit_code == 0, result.output
    adapted = Detector.load(tmp_path / "new")
    record = adapted.manifest["adapted"]
    assert adapted.kind == "reference" and (record["fakes"], record["reals"]) == (3, 3)
    assert record["from"]["files"] == Detector.load(twin).spec.files
    assert adapted.spec.files["model.safetensors"] != Detector.load(twin).spec.files["model.safetensors"]
    # recalibrated to flag at most 5% of the given reals: with 3 reals, none of them
    used = [p for p in image_files(data / "real") if file_image_id(p) in record["images"]]
    assert len(used) == 3 and record["threshold"] == "recalibrated on the given reals"
    assert [p.verdict for p in adapted.predict(used)] == ["no evidence found"] * 3


@pytest.mark.slow
def test_adapt_is_seeded(twin, data, tmp_path):
    fakes, reals = image_files(data / "fake")[:2], image_files(data / "real")[:2]
    settings = AdaptSettings(steps=2, lr=0.01, seed=1)
    first = adapt_detector(twin, fakes, reals, output=tmp_path / "a", settings=settings)
    second = adapt_detector(twin, fakes, reals, output=tmp_path / "b", settings=settings)
    assert first.n_reals == 2 and first.threshold == second.threshold
    assert Detector.load(first.path).spec.files == Detector.load(second.path).spec.files


def test_adapt_with_fakes_only_is_refused_saying_reals_are_needed(twin, data, tmp_path):
    """Issue 20: fakes alone made the built-in detector call every photograph fake."""
    result = run_cli("adapt", twin, "--fakes", data / "fake", "-o", tmp_path / "new", *FAST)
    assert result.exit_code == 2 and "needs real photographs" in result.stderr and "--reals" in result.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_adapting_does_not_raise_the_false_positive_rate_on_held_out_reals(twin, data, tmp_path):
    """With the default settings, on reals it never saw, the adapted detector calls no more photos fake."""
    held_out = image_files(make_real_fake_folder(tmp_path / "held", per_class=16, seed=11) / "real")
    original = Detector.load(twin)
    adapted = adapt_detector(twin, image_files(data / "fake"), image_files(data / "real"), output=tmp_path / "new")
    fpr = [np.mean([p.verdict == "fake" for p in detector.predict(held_out)]) for detector in (original, Detector.load(adapted.path))]
    assert fpr[1] <= fpr[0], fpr


@pytest.mark.slow  # 6-10 s: `make test` runs it, `make check` stays under 90 s
def test_degenerate_adapt_input_is_refused(twin, data, tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [(["--reals", data / "real", "--lr", "1e30"], "not finite"),
             (["--reals", tmp_path / "empty"], "no images found"),
             (["--reals", data / "fake"], "both in the fakes and in the reals")]
    for args, message in cases:
        result = run_cli("adapt", twin, "--fakes", data / "fake", "--steps", "2", *args, "-o", tmp_path / "new")
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
        assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_a_stronger_pull_keeps_the_detector_closer_to_the_original(twin, data, tmp_path):
    fakes, reals = image_files(data / "fake"), image_files(data / "real")
    original = Detector.load(twin).predict(reals)
    shifts = []
    for l2sp in (0.0, 1000.0):
        adapted = adapt_detector(twin, fakes, reals[:2], output=tmp_path / f"l2sp{l2sp}", settings=AdaptSettings(steps=8, lr=0.01, l2sp=l2sp))
        scores = Detector.load(adapted.path).predict(reals)
        shifts.append(np.mean([abs(a.probability - b.probability) for a, b in zip(scores, original)]))
    assert shifts[1] < shifts[0]


@pytest.fixture(scope="module")
def features_detector(data, tmp_path_factory) -> Path:
    from deepfake_detect.train import TrainingPlan, train_detector

    folder = tmp_path_factory.mktemp("adapt") / "features"
    source = make_real_fake_folder(folder.parent / "train", per_class=12, seed=4)
    plan = TrainingPlan(dataset=str(source), backbone="fft_spectrum", cache=str(folder.parent / "cache"))
    return train_detector(plan, folder, workers=0).path


def test_the_builtin_network_detector_adapts(data, tmp_path):
    result = run_cli("adapt", BUILTIN_DETECTOR, "--fakes", data / "fake", "--reals", data / "real", "-o", tmp_path / "new", *FAST)
    assert result.exit_code == 0, result.output
    assert Detector.load(tmp_path / "new").manifest["adapted"]["fakes"] == 6


def test_adapt_refuses_a_features_detector_and_bad_arguments(features_detector, data, tmp_path):
    features = run_cli("adapt", features_detector, "--fakes", data / "fake", "--reals", data / "real", "-o", tmp_path / "x")
    assert features.exit_code == 2 and "features" in features.stderr and "train" in features.stderr
    half = run_cli("adapt", BUILTIN_DETECTOR, "--fakes", data / "fake", "--reals", data / "real", "--curve", "1,5", "-o", tmp_path / "x")
    assert half.exit_code == 2 and "--test" in half.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_cli("adapt", BUILTIN_DETECTOR, "--fakes", empty, "--reals", data / "real", "-o", tmp_path / "x")
    assert nothing.exit_code == 2 and "no images" in nothing.stderr


@pytest.mark.slow
def test_an_unreadable_fake_is_named_and_the_rest_used(twin, data, tmp_path):
    folder = tmp_path / "fakes"
    folder.mkdir()
    for path in image_files(data / "fake")[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.png").write_bytes(b"not an image")
    result = run_cli("adapt", twin, "--fakes", folder, "--reals", data / "real", "-o", tmp_path / "new", *FAST)
    assert result.exit_code == 1 and "broken.png" in result.output
    assert Detector.load(tmp_path / "new").manifest["adapted"]["fakes"] == 2


@pytest.mark.slow
def test_the_few_shot_curve_rows_report_and_resume(twin, data, tmp_path):
    run_dir = tmp_path / "curve"
    test_set = load_dataset(data)
    fakes = image_files(data / "fake")
    settings = AdaptSettings(steps=2, lr=0.01)
    table = few_shot_curve(twin, fakes, test_set, [1, 2, 100], run_dir, image_files(data / "real"), settings=settings, bootstrap=10)
    assert list(table["level"]) == [0, 1, 2] and set(table["approach"]) == {"adapt"}
    assert list(table["n_test"]) == [12, 10, 8]  # the images adapted on (k fakes, k reals) are left out of the test
    assert set(table["perturbation"]) == {"few_shot"}
    made = (run_dir / "detectors" / "k2" / "manifest.json").stat().st_mtime_ns
    again = few_shot_curve(twin, fakes, test_set, [1, 2], run_dir, image_files(data / "real"), settings=settings, bootstrap=10)
    assert (run_dir / "detectors" / "k2" / "manifest.json").stat().st_mtime_ns == made
    assert list(again["auc"]) == list(table["auc"])
    from deepfake_detect.report import write_report

    html, markdown = write_report(run_dir)
    assert "Few-shot adaptation" in html.read_text() and (run_dir / "figures" / "few_shot.png").is_file()
    rows = [json.loads(line) for line in (run_dir / "cells.jsonl").read_text().splitlines()]
    assert len(rows) == 3
