"""`deepfake-detect finetune`: the command line over `run_finetune`.

Options come from three places, in this order of precedence: flags typed on the command
line, then `--config FILE.yaml` (the `FinetuneConfig` fields; a run folder's own
config.yaml works, so a run can be repeated from its folder), then `FinetuneConfig`'s
defaults (the seed's recipe), which --help shows. Every flag defaults to None, "not given".
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..backbones import list_finetunable
from ..console import console
from ..errors import ExitStatus, FinetuneError, Interrupted
from ..finetune.config import FinetuneConfig
from .app import app, start_line
from ..transforms.preprocess import PreprocessPolicy
from .options import DataRootOption, MaxPerClassOption, WorkersOption, out_option
from .settings import merge_settings, with_default

AUGMENT_FLAGS = {"augment": "enabled", "crop": "crop", "flip": "flip", "blur_prob": "blur_prob", "jpeg_prob": "jpeg_prob",
                 "downscale_prob": "downscale_prob", **{name: name for name in (
                     "align_jpeg_prob", "blend_prob", "rescale_prob", "rotate_prob", "color_jitter_prob", "mask_prob",
                     "grayscale_prob", "denoise_real_prob")}}
"""Flags that live inside the nested `augment` section of the config, by their field there."""
PLACES = {flag: f"augment.{field}" for flag, field in AUGMENT_FLAGS.items()}
NOT_CONFIG = {"config", "resume"}
FILE_ONLY = {"max_pixels", "augment"}
"""`FinetuneConfig` fields with no flag of their own (`augment` has one flag per field above)."""
default = partial(with_default, FinetuneConfig)


@app.command()
def finetune(
    ctx: typer.Context,
    dataset: Annotated[Optional[str], typer.Argument(
        help="Training data: folder (real/ fake/ or 0_real/ 1_fake/), CSV manifest, or named set")] = None,
    arch: Annotated[Optional[str], typer.Option(help=default("arch", " | ".join(list_finetunable())))] = None,
    out: Annotated[Optional[Path], out_option("Run folder (checkpoints, results, report, detector/)")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML with any of these options; flags override it")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        min=1, help=default("epochs", "Training epochs (the recipe's 80 assumes a GPU)"))] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=1, help=default("batch_size", "Images per SGD step (with --paired, batch-size // 2 whole pairs)"))] = None,
    lr: Annotated[Optional[float], typer.Option(
        help=default("lr", "SGD learning rate; 1e-5 suits 80 epochs, raise it for short runs"))] = None,
    momentum: Annotated[Optional[float], typer.Option(help=default("momentum", "SGD momentum"))] = None,
    image_size: Annotated[Optional[int], typer.Option(min=8, help=default("image_size", "Network input size in pixels"))] = None,
    preprocess: Annotated[Optional[PreprocessPolicy], typer.Option(case_sensitive=False, help=default(
        "preprocess", "resize (bicubic, to the input size; small images are resized up, then cropped) | "
                      "center_crop (no resampling; small images are mirror-padded)"))] = None,
    weights: Annotated[Optional[str], typer.Option(
        help=default("weights", "'pretrained', 'random', or a local weights file"))] = None,
    test_size: Annotated[Optional[float], typer.Option(
        help=default("test_size", "Held-out test fraction (the grid's split, same seed)"))] = None,
    val_size: Annotated[Optional[float], typer.Option(
        help=default("val_size", "Validation fraction, carved out of the training part"))] = None,
    seed: Annotated[Optional[int], typer.Option(
        help=default("seed", "Seed of the splits, the head, shuffling and augmentation"))] = None,
    augment: Annotated[Optional[bool], typer.Option(
        "--augment/--no-augment", help=default("augment.enabled", "All training augmentation"))] = None,
    blur_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.blur_prob", "Chance of Gaussian blur, sigma ~ U[0, 3] (CNNDetection used 0.1 or 0.5)"))] = None,
    jpeg_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.jpeg_prob", "Chance of JPEG re-encoding, quality ~ U{30..100} (CNNDetection used 0.1 or 0.5)"))] = None,
    downscale_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.downscale_prob", "Chance of down-scaling: a region 1.1-2x the crop size resized down to it "
                                  "(bicubic; never the whole image)"))] = None,
    align_jpeg_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.align_jpeg_prob", "--paired: chance of JPEG-compressing the FAKE alone, quality ~ U{70..100} (DDA)"))] = None,
    blend_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.blend_prob", "--paired: chance of mixing up to half of the real into its fake, in pixels or low frequencies (DDA)"))] = None,
    rescale_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.rescale_prob", "--paired: chance of resizing real and fake by one factor ~ U[0.75, 1.5] (DDA)"))] = None,
    rotate_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.rotate_prob", "--paired: chance of one rotation up to 15 degrees for both (SAFE)"))] = None,
    color_jitter_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.color_jitter_prob", "--paired: chance of one colour jitter for both (SAFE)"))] = None,
    mask_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.mask_prob", "--paired: chance of zeroing up to a quarter of both images in the same 16 px squares (SAFE)"))] = None,
    grayscale_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.grayscale_prob", "--paired: chance of turning both images grey, for grayscale photographs"))] = None,
    denoise_real_prob: Annotated[Optional[float], typer.Option(help=default(
        "augment.denoise_real_prob", "--paired: chance of smoothing the REAL alone (Gaussian sigma 0.4-1.0), so "
                                     "'noise-free' stops meaning fake"))] = None,
    flip: Annotated[Optional[bool], typer.Option("--flip/--no-flip", help=default("augment.flip", "Random horizontal flips"))] = None,
    crop: Annotated[Optional[bool], typer.Option("--crop/--no-crop", help=default("augment.crop", "Random crops"))] = None,
    paired: Annotated[Optional[bool], typer.Option(
        "--paired/--no-paired",
        help=default("paired", "Train on aligned pairs (a manifest with groups, as make-fakes writes): each group's real "
                               "and one of its fakes, augmented alike, in the same batch; validation and test stay image "
                               "by image"))] = None,
    early_stopping: Annotated[Optional[int], typer.Option(
        help=default("early_stopping", "Stop after N epochs without a better validation AUC"))] = None,
    schedule: Annotated[Optional[str], typer.Option(
        help=default("schedule", "Learning-rate schedule: none | cosine | step"))] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out from its last checkpoint")] = False,
    test: Annotated[Optional[list[str]], typer.Option(
        help=default("test", "Extra test set for the cross-dataset protocol (repeatable)"))] = None,
    robustness: Annotated[Optional[bool], typer.Option(
        "--robustness/--no-robustness",
        help=default("robustness", "Also test on the held-out split under JPEG 100..30, blur 0..4, downscale 1..0.5"))] = None,
    max_per_class: MaxPerClassOption = None,
    workers: WorkersOption = None,
    bootstrap: Annotated[Optional[int], typer.Option(
        min=0, help=default("bootstrap", "Bootstrap resamples for the AUC interval (0: none)"))] = None,
    target_fpr: Annotated[Optional[float], typer.Option("--target-fpr", min=0.0, max=1.0, help=default(
        "target_fpr", "The detector's threshold lets at most this share of the validation reals score above it"))] = None,
    data_root: DataRootOption = None,
) -> int:
    """Fine-tune a CNN end to end to tell real (0) from generated (1) images."""
    from ..finetune import run_finetune

    settings = resolve_config({name: value for name, value in ctx.params.items() if name not in NOT_CONFIG}, config)
    start_line(f"finetune: {settings.arch} on {settings.dataset}, {settings.epochs} epoch(s) -> {settings.out} (reading the data)",
               [settings.dataset])
    try:
        result = run_finetune(settings, resume=resume)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: finished epochs are saved in {settings.out}; "
                          "run the same command with --resume to continue") from None
    from .grid_commands import announce_report

    announce_report(result.run_dir)
    within = result.within()
    console.print(
        f"[bold]test[/] on held-out {within['test_dataset']} ({int(within['n_test'])} images): "
        f"accuracy {within['accuracy']:.4f}, AUC {within['auc']:.4f}; "
        f"detector {result.detector_dir}, report {result.run_dir / 'report.html'}",
        highlight=False, soft_wrap=True,
    )
    return ExitStatus.OK


def resolve_config(flags: dict, config_file: Path | None) -> FinetuneConfig:
    """Flags given on the command line win over the file, the file over `FinetuneConfig`'s defaults."""
    from ..grid.config import read_yaml_mapping

    values = merge_settings(flags, read_yaml_mapping(config_file) if config_file else {}, PLACES)
    missing = [name for name in ("dataset", "out") if values.get(name) is None]
    if missing:
        raise FinetuneError(f"missing {' and '.join('DATASET' if m == 'dataset' else '--out' for m in missing)} "
                            "(give it on the command line or in --config)")
    return FinetuneConfig.model_validate(values)
