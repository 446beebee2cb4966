"""`deepfake-detect finetune`: the command line over `run_finetune`.

Options come from three places, in this order of precedence: flags typed on the command
line, then `--config FILE.yaml` (the `FinetuneConfig` fields; a run folder's own
config.yaml works, so a run can be repeated from its folder), then the defaults shown in
--help, which are the seed's recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..console import console
from ..errors import ExitStatus, FinetuneError, Interrupted
from .app import app
from .options import DataRootOption, MaxPerClassOption, Preprocess, WeightsOption, WorkersOption, out_option

# Flags that live inside the nested `augment` section of the config.
AUGMENT_FLAGS = {"augment": "enabled", "crop": "crop", "flip": "flip", "blur_prob": "blur_prob", "jpeg_prob": "jpeg_prob",
                 "downscale_prob": "downscale_prob", **{name: name for name in (
                     "align_jpeg_prob", "blend_prob", "rescale_prob", "rotate_prob", "color_jitter_prob", "mask_prob",
                     "grayscale_prob")}}
NOT_CONFIG = {"config", "resume"}


@app.command()
def finetune(
    ctx: typer.Context,
    dataset: Annotated[Optional[str], typer.Argument(
        help="Training data: folder (real/ fake/ or 0_real/ 1_fake/), CSV manifest, or named set")] = None,
    arch: Annotated[str, typer.Option(help="resnet18 | resnet50 | efficientnet_lite0")] = "resnet50",
    out: Annotated[Optional[Path], out_option("Run folder (checkpoints, results, report, detector/)")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML with any of these options; flags override it")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs (the recipe's 80 assumes a GPU)")] = 80,
    batch_size: Annotated[int, typer.Option(
        min=1, help="Images per SGD step (with --paired, batch-size // 2 whole pairs)")] = 128,
    lr: Annotated[float, typer.Option(help="SGD learning rate; 1e-5 suits 80 epochs, raise it for short runs")] = 1e-5,
    momentum: Annotated[float, typer.Option(help="SGD momentum")] = 0.9,
    image_size: Annotated[int, typer.Option(min=8, help="Network input size in pixels")] = 256,
    preprocess: Annotated[Preprocess, typer.Option(
        help="resize (bicubic, to the input size; small images are resized up, then cropped) | "
             "center_crop (no resampling; small images are mirror-padded)")] = Preprocess.resize,
    weights: WeightsOption = "pretrained",
    test_size: Annotated[float, typer.Option(help="Held-out test fraction (the grid's split, same seed)")] = 0.2,
    val_size: Annotated[float, typer.Option(help="Validation fraction, carved out of the training part")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the splits, the head, shuffling and augmentation")] = 0,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="All training augmentation")] = True,
    blur_prob: Annotated[float, typer.Option(
        help="Chance of Gaussian blur, sigma ~ U[0, 3] (CNNDetection used 0.1 or 0.5)")] = 0.1,
    jpeg_prob: Annotated[float, typer.Option(
        help="Chance of JPEG re-encoding, quality ~ U{30..100} (CNNDetection used 0.1 or 0.5)")] = 0.1,
    downscale_prob: Annotated[float, typer.Option(
        help="Chance of down-scaling: a region 1.1-2x the crop size resized down to it (bicubic; "
             "never the whole image)")] = 0.0,
    align_jpeg_prob: Annotated[float, typer.Option(
        help="--paired: chance of JPEG-compressing the FAKE alone, quality ~ U{70..100} (DDA; 0.5 there)")] = 0.0,
    blend_prob: Annotated[float, typer.Option(
        help="--paired: chance of mixing up to half of the real into its fake, in pixels or low frequencies (DDA)")] = 0.0,
    rescale_prob: Annotated[float, typer.Option(
        help="--paired: chance of resizing real and fake by one factor ~ U[0.75, 1.5] (DDA)")] = 0.0,
    rotate_prob: Annotated[float, typer.Option(help="--paired: chance of one rotation up to 15 degrees for both (SAFE)")] = 0.0,
    color_jitter_prob: Annotated[float, typer.Option(help="--paired: chance of one colour jitter for both (SAFE)")] = 0.0,
    mask_prob: Annotated[float, typer.Option(
        help="--paired: chance of zeroing up to a quarter of both images in the same 16 px squares (SAFE)")] = 0.0,
    grayscale_prob: Annotated[float, typer.Option(
        help="--paired: chance of turning both images grey, for grayscale photographs")] = 0.0,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Random horizontal flips")] = True,
    crop: Annotated[bool, typer.Option("--crop/--no-crop", help="Random crops")] = True,
    paired: Annotated[bool, typer.Option(
        "--paired/--no-paired",
        help="Train on aligned pairs (a manifest with groups, as make-fakes writes): each group's real and one "
             "of its fakes, augmented alike, in the same batch; validation and test stay image by image")] = False,
    early_stopping: Annotated[Optional[int], typer.Option(
        help="Stop after N epochs without a better validation AUC")] = None,
    schedule: Annotated[str, typer.Option(help="Learning-rate schedule: none | cosine | step")] = "none",
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out from its last checkpoint")] = False,
    test: Annotated[Optional[list[str]], typer.Option(
        help="Extra test set for the cross-dataset protocol (repeatable)")] = None,
    robustness: Annotated[bool, typer.Option(
        help="Also test on the held-out split under JPEG 100..30, blur 0..4, downscale 1..0.5")] = False,
    max_per_class: MaxPerClassOption = None,
    workers: WorkersOption = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the AUC interval (0: none)")] = 1000,
    data_root: DataRootOption = None,
) -> int:
    """Fine-tune a CNN end to end to tell real (0) from generated (1) images."""
    from ..finetune import run_finetune

    settings = resolve_config(ctx, config)
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


def resolve_config(ctx: typer.Context, config_file: Path | None):
    """Flags typed on the command line win over the file, the file over the defaults."""
    from ..finetune import FinetuneConfig

    values = read_config_file(config_file) if config_file else {}
    for name, value in ctx.params.items():
        if name in NOT_CONFIG:
            continue
        typed = was_typed(ctx, name)
        if value is None and not typed:
            continue  # the config's own default (None or an empty list)
        section, key = (values.setdefault("augment", {}), AUGMENT_FLAGS[name]) if name in AUGMENT_FLAGS else (values, name)
        if typed or key not in section:
            section[key] = normalise(value)
    missing = [name for name in ("dataset", "out") if values.get(name) is None]
    if missing:
        raise FinetuneError(f"missing {' and '.join('DATASET' if m == 'dataset' else '--out' for m in missing)} "
                            "(give it on the command line or in --config)")
    return FinetuneConfig.model_validate(values)


def was_typed(ctx: typer.Context, name: str) -> bool:
    """By the enum's name: typer vendors its own copy of click, whose enum is a different class."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def normalise(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Preprocess):
        return value.value
    return list(value) if isinstance(value, tuple) else value


def read_config_file(path: Path) -> dict[str, Any]:
    from ..config import read_yaml_mapping

    values = read_yaml_mapping(path)
    values.setdefault("augment", {})
    return values
