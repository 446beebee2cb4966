"""The `train`, `predict` and `serve` commands, as plain functions the CLI registers.

Each turns user errors (a bad folder, an unknown name, a tampered model) into one red line
and exit code 2 itself, so it behaves the same under any Typer app.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..console import console, progress_bar, warn
from ..data.images import DEFAULT_MAX_PIXELS

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def _user_error_types() -> tuple[type[Exception], ...]:
    from pydantic import ValidationError

    from ..backbones import WeightsError
    from ..config import ConfigError
    from ..data import DatasetError
    from .detector import DetectorError

    return (DetectorError, DatasetError, WeightsError, ConfigError, ValidationError, KeyError, FileNotFoundError)


def _one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split())


@contextmanager
def user_errors() -> Iterator[None]:
    """Problems the user can fix: one line on stderr and exit code 2, never a traceback."""
    try:
        yield
    except _user_error_types() as exc:
        console.print(Text.assemble(("error: ", "bold red"), _one_line(exc)), soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None


def usage_error(message: str) -> typer.Exit:
    console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


# --- train ------------------------------------------------------------------------------------

GRID_CHOSEN = ("backbone", "weights", "transform", "reduction", "classifier", "preprocess")


def train_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Detector folder to create")],
    dataset: Annotated[Optional[str], typer.Argument(help="Folder (real/ fake/ or 0_real/ 1_fake/), CSV manifest, or named set")] = None,
    from_grid: Annotated[Optional[Path], typer.Option("--from-grid", help="Train the best cell of this grid run (RUN_DIR with results.csv and config.yaml)")] = None,
    backbone: Annotated[Optional[str], typer.Option(help="Registered backbone (default: efficientnet_lite0)")] = None,
    weights: Annotated[Optional[str], typer.Option(help="'pretrained', 'random', or a local weights file (default: pretrained)")] = None,
    transform: Annotated[Optional[str], typer.Option(help="Training augmentation: none | blur | jitter | blur+jitter (default: none)")] = None,
    reduction: Annotated[Optional[str], typer.Option(help="none | pca | autoencoder (default: none)")] = None,
    classifier: Annotated[Optional[str], typer.Option(help="Registered classifier (default: linear_probe)")] = None,
    preprocess: Annotated[Optional[str], typer.Option(help="resize | center_crop (default: resize)")] = None,
    calibration: Annotated[str, typer.Option(help="Probability calibration on the validation split: sigmoid (Platt) | isotonic")] = "sigmoid",
    target_fpr: Annotated[Optional[float], typer.Option("--target-fpr", help="Pick the threshold that flags at most this fraction of real validation images (e.g. 0.05); without it the threshold is 0.5")] = None,
    validation_size: Annotated[Optional[float], typer.Option(help="Fraction held out for calibration and threshold (default: 0.2)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Split seed (default: 0)")] = None,
    cache: Annotated[Optional[Path], typer.Option("--cache", help="Feature cache folder (env DEEPFAKE_DETECT_CACHE, else the user cache dir)")] = None,
    data_root: Annotated[Optional[Path], typer.Option("--data-root", help="Folder holding the named public sets (env DEEPFAKE_DETECT_DATA)")] = None,
    max_per_class: Annotated[Optional[int], typer.Option(min=1, help="Sample at most N images per class")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    workers: Annotated[Optional[int], typer.Option(min=0, help="Decoding processes (default: min(4, cores))")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing detector folder")] = False,
) -> None:
    """Train a detector (features, classifier, calibration, threshold) and save it as a folder."""
    from .train import TrainingPlan, plan_from_grid, train_detector

    with user_errors():
        common = dict(calibration=calibration, target_fpr=target_fpr, validation_size=validation_size, seed=seed,
                      cache=str(cache) if cache else None)
        if from_grid is not None:
            given = {"DATASET": dataset, **{f"--{n.replace('_', '-')}": v for n, v in zip(GRID_CHOSEN, (backbone, weights, transform, reduction, classifier, preprocess))}}
            clashing = [flag for flag, value in given.items() if value is not None]
            if clashing:
                raise usage_error(f"--from-grid chooses the method and data; do not also give {', '.join(clashing)}")
            plan = plan_from_grid(from_grid, **common)
            console.print(f"best grid cell: {_method_text(plan.origin)}", highlight=False)
        else:
            if dataset is None:
                raise usage_error("give a DATASET to train on, or --from-grid RUN_DIR")
            from ..transforms import TransformSpec

            plan = TrainingPlan(
                dataset=dataset, backbone=backbone or "efficientnet_lite0", weights=weights or "pretrained",
                transform=TransformSpec(name=transform or "none"), preprocess=preprocess or "resize",
                reduction=reduction or "none", classifier=classifier or "linear_probe",
                data_root=str(data_root) if data_root else None, max_per_class=max_per_class,
                **{k: v for k, v in common.items() if v is not None},
            )
        if plan.preprocess not in ("resize", "center_crop"):
            raise usage_error(f"--preprocess must be resize or center_crop, not '{plan.preprocess}'")
        trained = train_detector(plan, output, batch_size, workers, progress=progress_bar, on_bad=warn, overwrite=overwrite)
    _print_training_summary(trained)


def _method_text(origin: dict | None) -> str:
    if not origin:
        return "?"
    m = origin["method"]
    return (f"{m['backbone']} [{m['transform']}] + {m['reduction']} + {m['classifier']} on {m['train_dataset']} "
            f"(mean AUC {origin['mean_auc']:.3f} over {origin['seeds']} seed(s))")


def _print_training_summary(trained) -> None:
    manifest = trained.manifest
    metrics = manifest["validation"]["metrics"]
    data = manifest["training_data"]
    table = Table(title=f"validation ({data['validation']['real']} real, {data['validation']['fake']} fake)")
    for column in ("AUC", "accuracy", "false alarms (FPR)", "fakes caught (TPR)", "threshold"):
        table.add_column(column, justify="right")
    table.add_row(*(_fmt(metrics.get(k)) for k in ("auc", "accuracy", "fpr", "tpr")), f"{manifest['threshold']:.4f}")
    console.print(table)
    if trained.unreadable:
        console.print(f"[yellow]{len(trained.unreadable)} unreadable training images were skipped[/]")
    console.print(f"detector saved to [bold]{trained.path}[/] (calibration: {manifest['calibration']['method']})")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


# --- predict ---------------------------------------------------------------------------------


def predict_command(
    detector: Annotated[Path, typer.Argument(help="Detector folder (from `train` or `finetune`)")],
    paths: Annotated[list[str], typer.Argument(help="Images, folders (searched recursively) or .txt files listing paths")],
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="table | csv | jsonl (default: table on a terminal, else by -o suffix, else csv)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write rows to this file instead of stdout")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    workers: Annotated[Optional[int], typer.Option(min=0, help="Decoding processes (default: min(4, cores); 0 for small runs)")] = None,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse larger images (decompression bombs)")] = DEFAULT_MAX_PIXELS,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda (default: cuda when available)")] = None,
) -> None:
    """Score images: one row per image (path, fake probability, verdict), then a summary.

    Exit code 0 when every image was scored, 1 when some could not be read, 2 on usage errors.
    """
    from ..features.extract import default_workers
    from .detector import Detector
    from .predict import choose_format, collect_inputs, make_writer, run_prediction

    with user_errors():
        chosen = choose_format(fmt, output)
        loaded = Detector.load(detector, device)
        inputs = collect_inputs(paths)
    for folder in inputs.empty_folders:
        warn(f"{folder}: no images found (looked for image suffixes, recursively)")
    if not inputs.paths:
        raise usage_error("nothing to score: no image files among the given paths")
    if workers is None:
        workers = default_workers() if len(inputs.paths) > 2 * batch_size else 0
    handle = None
    try:
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            handle = output.open("w", encoding="utf-8", newline="")
        writer = make_writer(chosen, handle)
        with progress_bar("predict", total=len(inputs.paths)) as advance:
            summary = run_prediction(loaded, inputs.paths, writer, batch_size, workers, max_pixels, advance)
    finally:
        if handle is not None:
            handle.close()
    style = "yellow" if summary.failed else "green"
    console.print(Text(summary.line(), style=style) + Text(f" (threshold {loaded.threshold:.3f})"))
    if output is not None:
        console.print(f"rows written to {output}", highlight=False)
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)


# --- serve -------------------------------------------------------------------------------------


def serve_command(
    detector: Annotated[Path, typer.Argument(help="Detector folder (from `train` or `finetune`)")],
    host: Annotated[str, typer.Option(help="Address to bind; the default serves this machine only")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    max_upload_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body, in MB")] = 25.0,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse images with more pixels (decompression bombs)")] = 40_000_000,
    max_files: Annotated[int, typer.Option(min=1, help="Most images in one request")] = 16,
    max_batch: Annotated[int, typer.Option(min=1, help="Most images scored in one forward pass")] = 16,
    max_queued: Annotated[int, typer.Option(min=1, help="Most images waiting; beyond it requests get 503")] = 128,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda (default: cuda when available)")] = None,
) -> None:
    """Serve the detector: POST /predict, GET /health, GET /model, a web page at /, docs at /docs."""
    import uvicorn

    from ..serve import create_app
    from .detector import Detector

    with user_errors():
        loaded = Detector.load(detector, device)
    if not is_loopback(host):
        warn(f"binding to {host}: anyone who can reach this machine on port {port} can use the detector "
             "(no authentication); put it behind a proxy with TLS and access control")
    app = create_app(loaded, max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=max_pixels,
                     max_batch=max_batch, max_files=max_files, max_queued_images=max_queued)
    console.print(f"serving {loaded.describe()} at http://{_url_host(host)}:{port}/", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="info", limit_concurrency=max(64, max_queued),
                timeout_graceful_shutdown=5)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
