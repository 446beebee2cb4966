"""The `deepfake-detect` command line: small commands that each do one job."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .console import console, progress_bar, warn
from .errors import UserError

app = typer.Typer(
    help="Tell real photographs from generated images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CacheOption = Annotated[
    Optional[Path], typer.Option("--cache", help="Feature cache folder (env DEEPFAKE_DETECT_CACHE, else the user cache dir)")
]
DataRootOption = Annotated[
    Optional[Path], typer.Option("--data-root", help="Folder holding the named public test sets (env DEEPFAKE_DETECT_DATA)")
]


UsageError = UserError


def _user_errors() -> tuple[type[Exception], ...]:
    from pydantic import ValidationError

    return (UserError, ValidationError, FileNotFoundError)


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback."""
    try:
        code = app(standalone_mode=False)  # returns the code of a `typer.Exit(code)` in this mode
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:
        console.print("[red]aborted[/]")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]: finished work is saved; run the same command again to resume")
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        sys.exit(getattr(exc, "exit_code", getattr(exc, "code", 0)))
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click's usage errors (typer vendors click)
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, _user_errors()):
            console.print(f"[red]error:[/] {escape(_one_line(exc))}", highlight=False, soft_wrap=True)
            sys.exit(2)
        raise


def _one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(map(str, error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        return "invalid config: " + "; ".join(problems)
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())


@app.command("backbones")
def list_backbones_command() -> None:
    """List the registered backbones and where their weights come from."""
    from .backbones import backbone_info, list_backbones

    table = Table("name", "input", "dim", "weights")
    for name in list_backbones():
        info = backbone_info(name)
        table.add_row(name, str(info.input_size), str(info.embed_dim), info.weights_source)
    console.print(table)


def run_extraction(dataset, backbone, cache, transform, preprocess, batch_size, workers, max_pixels):
    """Extraction with a progress bar and bad files warned about by name as they are found."""
    from .features import extract_features

    todo = len(cache.missing(_space_for(backbone, transform, preprocess), dataset.ids))
    with progress_bar(f"{backbone.name} [{transform.name}]", total=todo) as advance:
        report = extract_features(
            dataset, backbone, cache, transform, preprocess, batch_size, workers, max_pixels,
            progress=advance, on_bad=warn,
        )
    return report


def _space_for(backbone, transform, preprocess):
    from .features import feature_space

    return feature_space(backbone, transform, preprocess)


@app.command()
def extract(
    dataset: Annotated[str, typer.Argument(help="Folder (real/ fake/ or 0_real/ 1_fake/), CSV manifest, or named set")],
    backbone: Annotated[str, typer.Option(help="Registered backbone; see `deepfake-detect backbones`")] = "efficientnet_lite0",
    transform: Annotated[str, typer.Option(help="none | blur | jitter | blur+jitter")] = "none",
    weights: Annotated[str, typer.Option(help="'pretrained', 'random', or a local weights file")] = "pretrained",
    preprocess: Annotated[str, typer.Option(help="resize (to the input size) | center_crop (no resampling)")] = "resize",
    cache: CacheOption = None,
    data_root: DataRootOption = None,
    max_per_class: Annotated[Optional[int], typer.Option(help="Sample at most N images per class (seed 0)")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    workers: Annotated[Optional[int], typer.Option(min=0, help="Parallel decode+embed threads on CPU, decoding processes on GPU (default: min(4, cores))")] = None,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse larger images (decompression bombs)")] = 50_000_000,
) -> None:
    """Turn a dataset into cached feature vectors; a second run reads them from the cache."""
    from .backbones import backbone_info, create_backbone
    from .data import load_dataset
    from .transforms import TransformSpec

    if preprocess not in ("resize", "center_crop"):
        raise UsageError(f"--preprocess must be resize or center_crop, not '{preprocess}'")
    backbone_info(backbone)  # names are checked before any folder is walked
    spec = TransformSpec(name=transform)
    data = load_dataset(dataset, data_root, max_per_class).check_usable()
    counts = data.counts()
    console.print(f"{data.name}: {counts['real']} real, {counts['fake']} fake")
    model = create_backbone(backbone, weights)
    from .features import FeatureCache

    with FeatureCache(cache) as store:
        report = run_extraction(data, model, store, spec, preprocess, batch_size, workers, max_pixels)
        console.print(
            f"{report.total} images: {report.cached} from cache, {report.extracted} extracted"
            + (f" at {report.images_per_second:.1f} img/s" if report.extracted else "")
            + (f", [yellow]{len(report.bad)} unreadable (skipped)[/]" if report.bad else "")
            + f"\ncache: {store.path} (space {report.space.key}, dim {report.space.dim})"
        )
    for path, reason in report.bad:
        console.print(f"  skipped {reason}", highlight=False, soft_wrap=True)


@app.command()
def grid(
    config: Annotated[Path, typer.Argument(help="YAML config naming datasets, transforms, backbones, reductions, classifiers")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: runs/CONFIG_NAME)")] = None,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Parallel processes (default: cores)")] = None,
    cache: CacheOption = None,
) -> None:
    """Run every combination in CONFIG; resumable; writes results.csv/.parquet and the report."""
    from .config import load_config

    settings = load_config(config)  # validated before anything heavy is imported
    from .evaluate.grid import run_grid

    if cache:
        settings = settings.model_copy(update={"cache": str(cache)})
    run_grid(settings, out or Path("runs") / config.stem, jobs)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A grid or fine-tune run folder")],
    metric: Annotated[str, typer.Option(help="Metric that ranks methods")] = "auc",
) -> None:
    """(Re)write report.html and report.md for a run folder."""
    from .report import load_results, write_report

    if not (run_dir / "results.csv").exists():
        raise UsageError(f"{run_dir}: no results.csv (not a run folder?)")
    html, markdown = write_report(run_dir, metric=metric)
    print_best(load_results(run_dir), metric)
    console.print(f"report: {html}\nsummary: {markdown}")


def print_best(results, metric: str = "auc", n: int = 8) -> None:
    from .report import best_rows

    best = best_rows(results, metric=metric, n=n)
    if best.empty:
        return
    columns = ["backbone", "transform", "reduction", "classifier", "test_dataset"]
    table = Table(*[c.replace("_dataset", "") for c in columns], metric, "accuracy", title="best within-dataset combinations")
    for _, row in best.iterrows():
        table.add_row(*[str(row[c]) for c in columns], f"{row[metric]:.3f}", f"{row['accuracy']:.3f}")
    console.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder")] = Path("runs/demo"),
    jobs: Annotated[Optional[int], typer.Option(min=1)] = None,
    cache: CacheOption = None,
    per_class: Annotated[int, typer.Option(min=10, help="Images per class per simulated generator")] = 100,
) -> None:
    """Build the offline demo set (photo crops vs simulated generator up-sampling) and run a small grid on it."""
    from .config import GridConfig
    from .data.demo import make_demo_dataset
    from .evaluate.grid import run_grid
    from .report import load_results

    data = make_demo_dataset(out / "data", per_class=per_class)
    console.print(f"demo data: {data} (64 px crops of scikit-image photos; fakes: simulated decoder up-sampling)")
    settings = GridConfig.model_validate(demo_config(data, cache))
    run_grid(settings, out, jobs)
    print_best(load_results(out))


def demo_config(data: Path, cache: Path | None) -> dict:
    """Small enough for a few minutes on 2 cores, wide enough to show every part of a report."""
    return {
        "datasets": {"tconv": str(data / "tconv"), "upsample_conv": str(data / "upsample_conv")},
        "backbones": ["efficientnet_lite0", "fft_spectrum"],
        "transforms": ["none", "blur"],
        "reductions": {"none": {}, "pca": {"n_components": 32}, "autoencoder": {"bottleneck": 32, "max_epochs": 40}},
        "classifiers": "all",
        "protocols": {
            "within": {"test_size": 0.3, "seeds": [0]},
            "cross": True,
            "robustness": {"jpeg": [100, 60, 30], "blur": [0, 2], "downscale": [0.5], "datasets": ["tconv"], "top": 2},
        },
        "cache": str(cache) if cache else None,
        "bootstrap": 200,
    }


@app.command()
def reencode(
    dataset: Annotated[str, typer.Argument(help="Folder, CSV manifest or named set")],
    out: Annotated[Path, typer.Argument(help="New folder: OUT/real/GENERATOR/... and OUT/fake/GENERATOR/...")],
    format: Annotated[str, typer.Option("--format", help="JPEG | PNG | WEBP")] = "JPEG",
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WEBP quality")] = 95,
    size: Annotated[Optional[int], typer.Option(help="Also resize every image to SIZE x SIZE")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Re-encode real and fake images alike, when the shortcut guard warns they differ by container."""
    from .data import BadImage, load_dataset
    from .data.images import reencode as reencode_image

    suffix = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(format.upper())
    if suffix is None:
        raise UsageError(f"--format must be JPEG, PNG or WEBP, not '{format}'")
    data = load_dataset(dataset, data_root).check_usable()
    failed = 0
    with progress_bar("re-encoding", total=len(data)) as advance:
        for record, image_id in zip(data.records, data.ids):
            target = out / record.label_name / (record.generator or data.name) / f"{image_id}.{suffix}"
            try:
                reencode_image(record.path, target, format, quality, size)
            except BadImage as exc:
                failed += 1
                warn(str(exc))
            advance(1)
    console.print(f"{len(data) - failed} images written to {out}" + (f", {failed} unreadable skipped" if failed else ""))


def _register_product_commands() -> None:
    """Commands whose code lives with what they drive (detector/, finetune/)."""
    from .detector.commands import predict_command, serve_command, train_command
    from .finetune.commands import finetune_command

    app.command("finetune")(finetune_command)
    app.command("train")(train_command)
    app.command("predict")(predict_command)
    app.command("serve")(serve_command)


_register_product_commands()
