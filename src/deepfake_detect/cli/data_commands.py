"""Commands over datasets and features: `backbones`, `extract`, `reencode`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Column, Table

from ..console import console, progress_bar, warn
from ..errors import ExitStatus, UserError
from ..fakes.layout import PairFormat
from .app import app, start_line
from .options import (
    DEFAULT_ENGINE,
    DEFAULT_MAX_PIXELS,
    CacheOption,
    DataRootOption,
    EngineOption,
    ImageFormatOption,
    RayAddressOption,
    RuntimeOption,
    ShardsOption,
    MaxPerClassOption,
    MaxPixelsOption,
    PreprocessOption,
    WeightsOption,
    WorkersOption,
)


def partial_if(skipped: int) -> ExitStatus:
    """The one rule for every command: some inputs could not be used (each was named) -> 1."""
    return ExitStatus.PARTIAL if skipped else ExitStatus.OK


@app.command("backbones")
def list_backbones_command() -> None:
    """List the registered backbones and where their weights come from."""
    from ..backbones import backbone_info, list_backbones

    table = Table("name", "input", "dim", "weights")
    for name in list_backbones():
        info = backbone_info(name)
        table.add_row(name, str(info.input_size), str(info.embed_dim), info.weights_source)
    console.print(table)


@app.command()
def extract(
    dataset: Annotated[str, typer.Argument(help="Folder (real/ fake/ or 0_real/ 1_fake/), CSV manifest, or named set")],
    backbone: Annotated[str, typer.Option(help="Registered backbone; see `deepfake-detect backbones`")] = "efficientnet_lite0",
    transform: Annotated[str, typer.Option(help="none | blur | jitter | blur+jitter")] = "none",
    weights: WeightsOption = "pretrained",
    preprocess: PreprocessOption = "resize",
    cache: CacheOption = None,
    data_root: DataRootOption = None,
    max_per_class: MaxPerClassOption = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    workers: WorkersOption = None,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
    engine: EngineOption = DEFAULT_ENGINE,
    ray_address: RayAddressOption = None,
    shards: ShardsOption = None,
    runtime: RuntimeOption = "auto",
) -> int:
    """Turn a dataset into cached feature vectors; a second run reads them from the cache.

    Exit status 0 when every image was used, 1 when some were skipped (each is named).
    """
    from ..backbones import backbone_info
    from ..data import load_dataset
    from ..engines import EngineOptions, ExtractJob, get_engine
    from ..transforms import TransformSpec

    backbone_info(backbone)  # names are checked before any folder is walked
    runner = get_engine(engine, EngineOptions(workers, runtime, ray_address, shards))
    spec = TransformSpec(name=transform)
    data = load_dataset(dataset, data_root, max_per_class).check_usable()
    counts = data.counts()
    console.print(f"{data.name}: {counts['real']} real, {counts['fake']} fake")
    from ..features import FeatureCache

    with FeatureCache(cache) as store:
        report = runner.extract(ExtractJob(data, backbone, weights, store, spec, preprocess, batch_size, max_pixels),
                                on_bad=warn)
        console.print(
            f"{report.total} images: {report.cached} from cache, {report.extracted} extracted"
            + (f" at {report.images_per_second:.1f} img/s" if report.extracted else "")
            + (f", [yellow]{len(report.bad)} unreadable (skipped)[/]" if report.bad else "")
            + f"\ncache: {store.path} (space {report.space.key}, dim {report.space.dim})"
        )
    return partial_if(len(report.bad))


@app.command()
def reencode(
    dataset: Annotated[str, typer.Argument(help="Folder, CSV manifest or named set")],
    out: Annotated[Path, typer.Argument(help="New folder: OUT/real/GENERATOR/... and OUT/fake/GENERATOR/...")],
    image_format: ImageFormatOption = "jpeg",
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WEBP quality")] = 95,
    size: Annotated[Optional[int], typer.Option(min=1, help="Also resize every image to SIZE x SIZE")] = None,
    data_root: DataRootOption = None,
) -> int:
    """Re-encode real and fake images alike, when the shortcut guard warns they differ by container."""
    from ..data import BadImage, load_dataset
    from ..data.images import FORMAT_SUFFIXES
    from ..data.images import reencode as reencode_image

    suffix = FORMAT_SUFFIXES[image_format]
    data = load_dataset(dataset, data_root).check_usable()
    failed = 0
    with progress_bar("re-encoding", total=len(data)) as advance:
        for record, image_id in zip(data.records, data.ids):
            target = out / record.label_name / (record.generator or data.name) / f"{image_id}{suffix}"
            try:
                reencode_image(record.path, target, image_format.upper(), quality, size)
            except BadImage as exc:
                failed += 1
                warn(str(exc))
            advance(1)
    console.print(f"{len(data) - failed} images written to {out}" + (f", {failed} unreadable skipped" if failed else ""))
    return partial_if(failed)


@app.command("generators")
def list_generators_command() -> None:
    """List the registered generators (for make-fakes) and where their weights come from."""
    from ..generators import generator_info, list_generators

    table = Table("name", "family", "what", Column("weights", overflow="fold"))
    for name in list_generators():
        info = generator_info(name)
        weights = (", ".join(f"{stem} ({info.download_url(stem) or 'local file'})" for stem in info.weights_files)
                   if info.needs_weights else "none needed")
        if not info.in_all:
            weights += "; only by name, not in --generator all"
        table.add_row(name, info.family, info.description, weights)
    console.print(table)


@app.command("make-fakes")
def make_fakes_command(
    reals: Annotated[str, typer.Argument(help="Real photographs: a folder (or its real/ half), CSV manifest or named set")],
    out: Annotated[Path, typer.Argument(help="New or resumed folder: OUT/real, OUT/fake/GENERATOR, OUT/manifest.csv")],
    generator: Annotated[Optional[list[str]], typer.Option(
        "--generator", "-g", help="Registered generator (repeatable), or 'all' (every one but the full VAEs); see `deepfake-detect generators`")] = None,
    size: Annotated[int, typer.Option(min=8, help="Side of the crop taken at native resolution (a multiple of 8)")] = 256,
    weights: Annotated[Optional[Path], typer.Option(help="Folder (or file) holding the generators' weights (else env var, else the official URL)")] = None,
    image_format: Annotated[PairFormat, typer.Option("--image-format", case_sensitive=False, help="png (lossless) | jpeg (both classes alike)")] = "png",
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality, for --image-format jpeg")] = 95,
    small: Annotated[str, typer.Option(help="Images smaller than --size: skip | resize (bicubic up, then crop)")] = "skip",
    max_images: Annotated[Optional[int], typer.Option(min=1, help="A seeded sample of this many real images")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample and of seeded generators")] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    data_root: DataRootOption = None,
    engine: EngineOption = DEFAULT_ENGINE,
    ray_address: RayAddressOption = None,
) -> int:
    """Make aligned fakes: each real image's crop redrawn by each generator, same size and encoding.

    Resumable: a second run skips every (image, generator) already written. About 0.5-2 s per
    256 px image per autoencoder on a CPU core (see benchmarks/README.md).
    """
    from ..engines import EngineOptions, FakesJob, get_engine
    from ..generators import default_generators, generator_info

    if not generator:
        raise UserError("give --generator NAME (repeatable) or --generator all; see `deepfake-detect generators`")
    names = list(dict.fromkeys([*(default_generators() if "all" in generator else []), *(g for g in generator if g != "all")]))
    if small not in ("skip", "resize"):
        raise UserError(f"--small must be skip or resize, not '{small}'")
    runner = get_engine(engine, EngineOptions(address=ray_address))
    settings = dict(image_format=image_format, quality=quality, small=small, max_images=max_images, seed=seed,
                    batch_size=batch_size, data_root=data_root)
    for name in names:
        generator_info(name)  # an unknown name is one line before anything loads
    start_line(f"make-fakes: {reals} through {', '.join(names)} at {size} px -> {out} (loading the generators)", [reals])
    summary = runner.make_fakes(FakesJob(reals, out, names, size, weights, settings), on_bad=warn)
    made = ", ".join(f"{name} {count}" for name, count in summary.made.items())
    console.print(
        f"{summary.sources} real images: {summary.reused} already done, fakes made: {made} "
        f"in {summary.seconds:.0f} s; the folder holds {summary.reals} reals and "
        f"{sum(summary.fakes.values())} fakes\nmanifest: {summary.manifest}",
        highlight=False, soft_wrap=True,
    )
    return partial_if(len(summary.skipped))
