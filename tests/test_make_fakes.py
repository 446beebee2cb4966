"""make-fakes: aligned pairs from real photographs, written so that only the generator's
traces tell real from fake, resumable, and loud about the files it could not use."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from deepfake_detect.data import load_dataset, load_rgb
from deepfake_detect.data.images import file_image_id
from deepfake_detect.errors import OutputError, UnknownNameError, UserError
from deepfake_detect.fakes import MANIFEST_COLUMNS, make_fakes

GENERATORS = ["taesd", "tconv"]  # one learned autoencoder (random twin), one simulated decoder
SIZE = 32


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Real photographs as a user has them: JPEGs and a PNG of several sizes, one grayscale,
    one too small for the crop, one file that is not an image, one duplicate."""
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    for name in ("astronaut", "chelsea", "coffee"):
        pixels = getattr(skimage.data, name)()[::6, ::6]
        Image.fromarray(pixels).save(folder / f"{name}.jpg", quality=90)
    Image.fromarray(skimage.data.rocket()[::7, ::5]).save(folder / "nested" / "rocket.png")
    Image.fromarray(skimage.data.camera()[::8, ::8]).save(folder / "camera.jpg")  # grayscale
    Image.fromarray(skimage.data.astronaut()[:20, :40]).save(folder / "tiny.png")
    (folder / "notes.jpg").write_text("not an image\n")
    (folder / "copy-of-chelsea.jpg").write_bytes((folder / "chelsea.jpg").read_bytes())
    return folder


def run(photos: Path, out: Path, **options):
    messages: list[str] = []
    summary = make_fakes(photos, out, options.pop("generators", GENERATORS), size=SIZE, weights="random",
                         batch_size=2, on_bad=messages.append, **options)
    return summary, messages


@pytest.mark.slow
def test_pairs_share_content_size_and_encoding_and_load_as_a_grouped_dataset(photos, tmp_path):
    summary, messages = run(photos, tmp_path / "pairs")
    out = summary.out
    assert summary.sources == 7 and summary.reals == 5 and summary.fakes == {"taesd": 5, "tconv": 5}
    assert summary.made == {"taesd": 5, "tconv": 5}
    assert sorted(m.split(":")[0] for m in messages) == [str(photos / "notes.jpg"), str(photos / "tiny.png")]
    assert "smaller than the 32 px crop" in " ".join(messages) and messages == summary.skipped

    source = np.asarray(load_rgb(photos / "astronaut.jpg"))
    top, left = (source.shape[0] - SIZE) // 2, (source.shape[1] - SIZE) // 2
    centre = source[top : top + SIZE, left : left + SIZE]
    astronaut = file_image_id(photos / "astronaut.jpg")
    assert np.array_equal(np.asarray(Image.open(out / "real" / f"{astronaut}.png")), centre)  # no resampling
    for real in (out / "real").iterdir():
        for generator in GENERATORS:
            fake = out / "fake" / generator / real.name
            with Image.open(real) as a, Image.open(fake) as b:
                assert a.format == b.format == "PNG" and a.size == b.size == (SIZE, SIZE) and a.mode == b.mode == "RGB"

    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == MANIFEST_COLUMNS and len(rows) == 15
    dataset = load_dataset(out / "manifest.csv")
    assert dataset.counts() == {"real": 5, "fake": 10}
    assert {r.generator for r in dataset.records if r.label == 1} == set(GENERATORS)
    groups: dict[str, set[str]] = {}
    for record in dataset.records:
        assert record.group == Path(record.path).stem
        groups.setdefault(record.group, set()).add(record.label_name + ":" + (record.generator if record.label else ""))
    assert all(members == {"real:", "fake:taesd", "fake:tconv"} for members in groups.values())


@pytest.mark.slow
def test_a_second_run_redoes_nothing_and_a_lost_file_is_remade(photos, tmp_path):
    first, _ = run(photos, tmp_path / "pairs")
    files = sorted(p for p in first.out.rglob("*.png"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    lost = first.out / "fake" / "taesd" / files[0].name
    lost_bytes = lost.read_bytes()
    again, _ = run(photos, tmp_path / "pairs")
    assert again.made == {"taesd": 0, "tconv": 0} and again.reused == 5
    lost.unlink()
    third, _ = run(photos, tmp_path / "pairs")
    assert third.made == {"taesd": 1, "tconv": 0} and lost.read_bytes() == lost_bytes  # deterministic
    assert all(p.stat().st_mtime_ns == stamps[p] for p in files if p != lost)


def test_a_new_generator_joins_the_folder_and_an_interrupted_run_keeps_its_pairs(photos, tmp_path):
    run(photos, tmp_path / "pairs", generators=["tconv"])
    seen = []

    def interrupt(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 2:  # after the first batch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(photos, tmp_path / "pairs", generators=["tconv", "upsample_conv"], progress=interrupt)
    out = tmp_path / "pairs"
    assert not list(out.rglob("*.partial"))
    dataset = load_dataset(out / "manifest.csv")
    made = [r for r in dataset.records if r.generator == "upsample_conv"]
    assert len(made) == 2 and all(r.path.is_file() for r in dataset.records)
    finished, _ = run(photos, out, generators=["tconv", "upsample_conv"])
    assert finished.made == {"tconv": 0, "upsample_conv": 3} and finished.fakes == {"tconv": 5, "upsample_conv": 5}


def test_jpeg_encodes_both_classes_alike(photos, tmp_path):
    summary, _ = run(photos, tmp_path / "pairs", image_format="jpeg", quality=80, generators=["tconv"])
    real = next((summary.out / "real").iterdir())
    fake = summary.out / "fake" / "tconv" / real.name
    assert real.suffix == ".jpg"
    with Image.open(real) as a, Image.open(fake) as b:
        assert a.format == b.format == "JPEG" and a.quantization == b.quantization and a.size == b.size
    assert load_dataset(summary.out / "manifest.csv").counts() == {"real": 5, "fake": 5}


def test_small_images_can_be_scaled_up_instead_of_skipped(photos, tmp_path):
    summary, messages = run(photos, tmp_path / "pairs", small="resize", generators=["tconv"])
    assert summary.reals == 6 and [m.split(":")[0] for m in messages] == [str(photos / "notes.jpg")]


def test_one_folder_never_mixes_settings(photos, tmp_path):
    run(photos, tmp_path / "pairs", generators=["tconv"])
    with pytest.raises(OutputError, match="holds pairs made with 32 px png"):
        run(photos, tmp_path / "pairs", generators=["tconv"], image_format="jpeg")
    with pytest.raises(OutputError, match="'tconv' fakes there were made with other weights"):
        run(photos, tmp_path / "pairs", generators=["tconv"], seed=1)


def test_wrong_arguments_fail_before_any_work(photos, tmp_path):
    out = tmp_path / "pairs"
    with pytest.raises(UserError, match="multiple of 8"):
        make_fakes(photos, out, ["tconv"], size=30)
    with pytest.raises(UnknownNameError, match="upsample_conv"):
        make_fakes(photos, out, ["tconv", "dalle9"], size=32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no real images"):
        make_fakes(tmp_path / "empty", out, ["tconv"], size=32)
    assert not out.exists()


def test_a_labelled_dataset_gives_only_its_real_images(tmp_path):
    from conftest import make_real_fake_folder

    data = make_real_fake_folder(tmp_path / "data", per_class=3, size=48)
    summary, _ = run(data, tmp_path / "pairs", generators=["tconv"])
    assert summary.sources == 3 and summary.reals == 3
