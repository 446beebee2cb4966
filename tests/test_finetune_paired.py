"""`finetune --paired`: aligned pairs from `make-fakes` stay together, augmented alike, in batches.

A tiny aligned set is made for real (the simulated decoders need no weights), a patch network is
fine-tuned on it through the command line, and its detector folder is used by `predict`; the
unit tests look at what the training loop is fed: whole pairs, each with one augmentation.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import (
    assert_same_weights,
    final_weights,
    kill_finetune_after_first_epoch,
    make_real_fake_folder,
    run_cli,
    write_pattern_image,
)
from PIL import Image
from pydantic import ValidationError

from deepfake_detect.data import ImageRecord
from deepfake_detect.errors import FinetuneError
from deepfake_detect.finetune import FinetuneConfig
from deepfake_detect.finetune.augment import AugmentSpec, build_train_transform
from deepfake_detect.finetune.data import epoch_batches
from deepfake_detect.finetune.pairs import PairGroup, PairTensors, pair_groups
from deepfake_detect.finetune.state import (
    TrainingState,
    make_trainer,
    restore_checkpoint,
    save_checkpoint,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GENERATORS = ["tconv", "upsample_conv"]
PAIRED = ["--arch", "patchnet_median", "--weights", "random", "--paired", "--epochs", "2", "--batch-size", "8",
          "--lr", "0.01", "--image-size", "24", "--preprocess", "center_crop", "--workers", "0",
          "--blur-prob", "0.5", "--jpeg-prob", "0.5", "--downscale-prob", "0.5", "--bootstrap", "0"]
MEAN_STD = ((0.5,) * 3, (0.5,) * 3)


@pytest.fixture(scope="module")
def aligned(tmp_path_factory) -> Path:
    """`make-fakes` on 10 real images: OUT/manifest.csv with 10 groups of one real and two fakes."""
    root = tmp_path_factory.mktemp("paired")
    for i in range(10):
        write_pattern_image(root / "reals" / f"photo{i}.png", seed=i, fake=False, size=40)
    made = run_cli("make-fakes", root / "reals", root / "aligned", *[arg for g in GENERATORS for arg in ("-g", g)], "--size", "32")
    assert made.exit_code == 0, made.output
    return root / "aligned"


@pytest.fixture(scope="module")
def paired_run(aligned, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("paired_run") / "run"
    result = run_cli("finetune", aligned / "manifest.csv", "--out", run_dir, *PAIRED)
    assert result.exit_code == 0, result.output
    return run_dir


def test_paired_fine_tuning_makes_a_detector_that_predict_uses(paired_run, aligned):
    assert pd.read_csv(paired_run / "history.csv")["epoch"].tolist() == [1, 2]
    config = yaml.safe_load((paired_run / "config.yaml").read_text())
    assert config["paired"] is True and config["augment"]["downscale_prob"] == 0.5
    scores = paired_run / "scores.csv"
    result = run_cli("predict", aligned / "real", aligned / "fake", "-d", paired_run / "detector", "-o", scores)
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(scores)
    assert len(rows) == 30 and rows["probability"].between(0, 1).all() and rows["error"].isna().all()


@pytest.mark.slow
def test_a_killed_paired_run_resumes_to_the_uninterrupted_weights(paired_run, aligned, tmp_path):
    """Each epoch's choice of fakes and its augmentations come from (seed, epoch) alone."""
    run_dir = tmp_path / "killed"
    args = [str(aligned / "manifest.csv"), "--out", str(run_dir), *PAIRED]
    kill_finetune_after_first_epoch(args, run_dir)
    resumed = run_cli("finetune", *args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output
    assert_same_weights(final_weights(run_dir), final_weights(paired_run))
    changed = run_cli("finetune", *args, "--resume", "--no-paired")
    assert changed.exit_code == 2 and "paired: True -> False" in changed.output


def test_a_folder_without_groups_is_one_line_before_any_training(tmp_path):
    folder = make_real_fake_folder(tmp_path / "folder", per_class=4, size=32)
    result = run_cli("finetune", folder, "--out", tmp_path / "run", *PAIRED)
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0, result.output
    assert "--paired needs aligned pairs" in result.output and "has no groups" in result.output
    assert not (tmp_path / "run").exists()

    config = tmp_path / "finetune.yaml"  # the option works from a config file too
    config.write_text(f"dataset: {folder}\nout: {tmp_path / 'run'}\narch: patchnet_median\npaired: true\n")
    from_file = run_cli("finetune", "--config", config, "--weights", "random")
    assert from_file.exit_code == 2 and "has no groups" in from_file.output


def test_groups_without_a_real_or_a_fake_are_named(aligned, tmp_path):
    with open(aligned / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lonely = next(r["group"] for r in rows if r["label"] == "real")
    kept = [r for r in rows if not (r["group"] == lonely and r["label"] != "real")]
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "path": str(aligned / r["path"])} for r in kept)
    result = run_cli("finetune", manifest, "--out", tmp_path / "run", *PAIRED)
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0, result.output
    assert f"1 of 10 groups in {manifest} do not: group '{lonely}' has 1 real and 0 fake" in result.output
    assert not (tmp_path / "run").exists()


def test_pair_groups_needs_every_image_grouped():
    real, fake = ImageRecord(Path("r.png"), 0, group="g"), ImageRecord(Path("f.png"), 1, "tconv", group="g")
    assert pair_groups([real, fake], "set") == [PairGroup("g", real, (fake,))]
    with pytest.raises(FinetuneError, match="1 of 3 images in set have none"):
        pair_groups([real, fake, ImageRecord(Path("x.png"), 1)], "set")
    with pytest.raises(FinetuneError, match="group 'g' has 2 real and 1 fake"):
        pair_groups([real, fake, ImageRecord(Path("r2.png"), 0, group="g")], "set")


# --- what the training loop is fed ------------------------------------------------------------------


def copied_pairs(tmp_path: Path, n: int, fakes_per_group: int = 1) -> list[PairGroup]:
    """Groups whose fakes are exact copies of their real image (40 px, textured)."""
    groups = []
    for i in range(n):
        real = write_pattern_image(tmp_path / "real" / f"{i}.png", seed=i, fake=False, size=40)
        fakes = []
        for k in range(fakes_per_group):
            fakes.append(tmp_path / "fake" / f"g{k}" / f"{i}.png")
            fakes[-1].parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(real, fakes[-1])
        groups.append(PairGroup(str(i), ImageRecord(real, 0, group=str(i)),
                                tuple(ImageRecord(f, 1, f"g{k}", str(i)) for k, f in enumerate(fakes))))
    return groups


EVERYTHING = AugmentSpec(blur_prob=1, jpeg_prob=1, downscale_prob=0.5)


@pytest.mark.parametrize("policy", ["center_crop", "resize"])
def test_a_pair_gets_one_crop_flip_blur_jpeg_and_downscale(tmp_path, policy):
    transform = build_train_transform(policy, 24, *MEAN_STD, EVERYTHING)
    pairs = PairTensors(copied_pairs(tmp_path, 1), transform, max_pixels=None)
    outputs = []
    for seed in range(12):
        torch.manual_seed(seed)
        real, fake = pairs[0]
        assert (real.label, fake.label) == (0, 1) and real.error is None and fake.error is None
        assert real.tensor.shape == (3, 24, 24) and real.tensor.dtype == torch.float32
        assert torch.equal(real.tensor, fake.tensor)
        outputs.append(real.tensor)
    assert len({o.numpy().tobytes() for o in outputs}) == len(outputs)  # each draw differs
    torch.manual_seed(0)  # whereas two separate draws do not agree: the test above means something
    image = Image.open(pairs.groups[0].real.path).convert("RGB")
    assert not torch.equal(transform(image), transform(image))


def test_batches_hold_whole_pairs_and_a_broken_pair_is_left_out_whole(tmp_path):
    groups = copied_pairs(tmp_path, 7, fakes_per_group=2)
    groups[3].fakes[1].path.write_bytes(b"not an image")
    config = FinetuneConfig(dataset="aligned", out=tmp_path / "run", batch_size=4, paired=True)
    pairs = PairTensors(groups, build_train_transform("center_crop", 24, *MEAN_STD, EVERYTHING), max_pixels=None)
    chosen = []
    for epoch_seed in range(4):
        seen, bad = [], []
        for batch in epoch_batches(pairs, config, workers=0, seed=epoch_seed):
            assert len(batch) % 2 == 0 and len(batch) <= config.batch_size
            assert batch.labels.tolist() == [0, 1] * (len(batch) // 2)
            assert all(fake == real + 1 and real % 2 == 0 for real, fake in zip(batch.indices[::2], batch.indices[1::2]))
            assert torch.equal(batch.images[0::2], batch.images[1::2])  # real and its copy, augmented alike
            seen += batch.indices
            bad += batch.bad
        chosen.append(pairs.for_epoch(epoch_seed).choices)
        assert chosen[-1] == pairs.for_epoch(epoch_seed).choices  # from the epoch's seed alone
        if chosen[-1][3] == 1:  # the broken fake was drawn: its real is left out with it
            assert sorted(seen) == [i for i in range(14) if i not in (6, 7)]
            assert [position for position, _ in sorted(bad)] == [6, 7] and "left out with its pair" in bad[0][1]
        else:
            assert sorted(seen) == list(range(14)) and not bad
    assert len({tuple(c) for c in chosen}) > 1  # a fresh choice of fakes each epoch
    assert {c[3] for c in chosen} == {0, 1}  # both branches above were taken


def test_a_pair_of_two_sizes_is_left_out(tmp_path):
    group = copied_pairs(tmp_path, 1)[0]
    write_pattern_image(group.fakes[0].path, seed=0, fake=True, size=48)
    real, fake = PairTensors([group], build_train_transform("center_crop", 24, *MEAN_STD, AugmentSpec()),
                             max_pixels=None)[0]
    assert real.tensor is None and fake.tensor is None
    assert "48x48, but its real image" in fake.error and "left out with its pair" in real.error


def test_paired_needs_room_for_a_pair_in_a_batch(tmp_path):
    with pytest.raises(ValidationError, match="batch size of 2 or more"):
        FinetuneConfig(dataset="aligned", out=tmp_path, batch_size=1, paired=True)


# --- down-scaling ----------------------------------------------------------------------------------


def test_downscaling_shrinks_a_region_never_the_whole_image():
    """A horizontal ramp (value = x): a plain 32 px crop spans 31 grey levels, a region of
    1.1-2x the crop resized down to 32 px spans 35-63, the whole 256 px image 255."""
    ramp = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (256, 1, 3)))
    plain = build_train_transform("center_crop", 32, (0.0,) * 3, (1 / 255,) * 3, AugmentSpec(
        blur_prob=0, jpeg_prob=0, flip=False))
    shrunk = build_train_transform("center_crop", 32, (0.0,) * 3, (1 / 255,) * 3, AugmentSpec(
        blur_prob=0, jpeg_prob=0, flip=False, downscale_prob=1))
    for seed in range(10):
        torch.manual_seed(seed)
        assert np.ptp(plain(ramp)[0, 16].numpy()) == pytest.approx(31, abs=1e-3)
        span = np.ptp(shrunk(ramp)[0, 16].numpy())
        assert shrunk(ramp).shape == (3, 32, 32) and 32 < span < 66, span


def test_downscale_factor_must_enlarge_the_region():
    with pytest.raises(ValidationError, match="low <= high"):
        AugmentSpec(downscale_factor=(0.5, 2.0))


def test_a_checkpoint_from_before_paired_training_still_resumes(tmp_path):
    """Options added since a checkpoint was written count as their defaults, which are what it trained with."""
    config = FinetuneConfig(dataset="data", out=tmp_path, arch="patchnet_median", weights="random")
    trainer = make_trainer(config, torch.device("cpu"))
    save_checkpoint(tmp_path / "checkpoint.pt", trainer, TrainingState(epoch=1), config)
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del payload["config"]["paired"], payload["config"]["augment"]["downscale_prob"]
    del payload["config"]["augment"]["downscale_factor"]
    torch.save(payload, tmp_path / "checkpoint.pt")
    assert restore_checkpoint(tmp_path / "checkpoint.pt", trainer, config).epoch == 1
    with pytest.raises(FinetuneError, match="paired: False -> True"):
        restore_checkpoint(tmp_path / "checkpoint.pt", trainer, config.model_copy(update={"paired": True}))


# --- dual data alignment (DDA, SAFE) --------------------------------------------------------------


def gradient_pair(tmp_path: Path) -> tuple[Image.Image, Image.Image]:
    """A real photo-like image and a 'fake' that differs only by a checkerboard trace."""
    rng = np.random.default_rng(0)
    real = np.clip(np.add.outer(np.arange(64), np.arange(64))[..., None] * 2 + rng.normal(0, 8, (64, 64, 3)), 0, 255)
    trace = 12 * ((np.indices((64, 64)).sum(axis=0) % 2) * 2 - 1)[..., None]
    fake = np.clip(real + trace, 0, 255)
    return Image.fromarray(real.astype(np.uint8)), Image.fromarray(fake.astype(np.uint8))


def test_frequency_blending_gives_the_fake_the_real_low_band_and_keeps_its_trace(tmp_path):
    from deepfake_detect.finetune.augment import blend_frequencies, blend_pixels

    real, fake = (np.asarray(img, np.float64) for img in gradient_pair(tmp_path))
    mixed = blend_frequencies(real, fake, 0.5)
    difference = mixed - real
    assert np.abs(difference).mean() == pytest.approx(12, abs=0.5)  # the checkerboard (highest frequency) stays
    assert np.allclose(blend_frequencies(real, fake, 0.0), fake)
    assert np.allclose(blend_frequencies(real, fake, 2.0), real)  # the whole spectrum is the real's
    assert np.allclose(blend_pixels(real, fake, 0.25), 0.75 * fake + 0.25 * real)


def test_alignment_steps_touch_the_fake_alone_or_both_alike(tmp_path):
    from deepfake_detect.finetune.augment import DualAlign

    real, fake = gradient_pair(tmp_path)
    fake_only = DualAlign(AugmentSpec(align_jpeg_prob=1, blend_prob=1))
    real_only = DualAlign(AugmentSpec(denoise_real_prob=1))
    shared = DualAlign(AugmentSpec(rotate_prob=1, color_jitter_prob=1, mask_prob=1, mask_max=0.5, rescale_prob=1,
                                   grayscale_prob=0.5))
    for seed in range(5):
        torch.manual_seed(seed)
        kept, changed = fake_only(real, fake)
        assert kept is real and np.abs(np.asarray(changed, float) - np.asarray(fake, float)).mean() > 0.5
        smoothed, kept = real_only(real, fake)
        assert kept is fake and np.std(np.diff(np.asarray(smoothed, float), axis=1)) < np.std(np.diff(np.asarray(real, float), axis=1))
        torch.manual_seed(seed)
        same_real, same_fake = shared(real, real.copy())
        assert not np.array_equal(np.asarray(same_real), np.asarray(real.resize(same_real.size)))  # changed
        assert np.array_equal(np.asarray(same_real), np.asarray(same_fake))  # by one draw for both


def test_alignment_options_need_pairs_and_reach_the_training_transform(tmp_path):
    with pytest.raises(ValidationError, match="need aligned pairs"):
        FinetuneConfig(dataset="aligned", out=tmp_path, augment=AugmentSpec(blend_prob=0.5))
    config = FinetuneConfig(dataset="aligned", out=tmp_path, paired=True, augment=AugmentSpec(blend_prob=0.5))
    transform = build_train_transform("center_crop", 24, *MEAN_STD, config.augment)
    real, fake = gradient_pair(tmp_path)
    torch.manual_seed(0)
    outputs = transform(real, fake)
    assert outputs[0].shape == outputs[1].shape == (3, 24, 24)


def test_paired_fine_tuning_takes_the_alignment_flags(aligned, tmp_path):
    run_dir = tmp_path / "run"
    flags = ["--align-jpeg-prob", "0.5", "--blend-prob", "0.5", "--rescale-prob", "0.5", "--rotate-prob", "0.5",
             "--color-jitter-prob", "0.5", "--mask-prob", "0.5", "--grayscale-prob", "0.5", "--denoise-real-prob", "0.5"]
    one_epoch = [*PAIRED[:5], "--epochs", "1", *PAIRED[7:]]
    result = run_cli("finetune", aligned / "manifest.csv", "--out", run_dir, *one_epoch, *flags)
    assert result.exit_code == 0, result.output
    augment = json.loads((run_dir / "detector" / "manifest.json").read_text())["training"]["augment"]
    assert augment["blend_prob"] == augment["mask_prob"] == augment["align_jpeg_prob"] == augment["grayscale_prob"] == augment["denoise_real_prob"] == 0.5
