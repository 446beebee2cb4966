"""Commands over detectors: `train` one into a folder, `predict` with it, `serve` it.

`predict` and `serve` use the built-in detector (`detector.builtin`) unless given one.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..console import console, progress_bar, warn
from ..errors import ExitStatus, OutputError, UserError
from ..train.plan import TrainingPlan
from ..transforms.preprocess import PreprocessPolicy
from .app import app
from .options import (
    DEFAULT_ENGINE,
    DEFAULT_MAX_PIXELS,
    AllowNetworkOption,
    TrustDirOption,
    WatermarksOption,
    CacheOption,
    DataRootOption,
    DeviceOption,
    EngineOption,
    MaxPerClassOption,
    MaxPixelsOption,
    RayAddressOption,
    RuntimeOption,
    ShardsOption,
    WorkersOption,
    out_option,
    provenance_reader,
)
from .settings import merge_settings, with_default

GRID_CHOSEN = ("backbone", "weights", "transform", "reduction", "classifier", "preprocess")
TRAIN_PLACES = {"transform": "transform.name"}
"""`train`'s flags that set a field inside a nested part of `TrainingPlan`."""
plan_default = partial(with_default, TrainingPlan)


@app.command()
def train(
    output: Annotated[Path, out_option("Detector folder to create")],
    dataset: Annotated[Optional[str], typer.Argument(help="Folder (real/ fake/ or 0_real/ 1_fake/), CSV manifest, or named set")] = None,
    from_grid: Annotated[Optional[Path], typer.Option("--from-grid", help="Train the best cell of this grid run (RUN_DIR with results.csv and config.yaml)")] = None,
    backbone: Annotated[Optional[str], typer.Option(help=plan_default("backbone", "Registered backbone"))] = None,
    weights: Annotated[Optional[str], typer.Option(help=plan_default("weights", "'pretrained', 'random', or a local weights file"))] = None,
    transform: Annotated[Optional[str], typer.Option(help=plan_default("transform.name", "Training augmentation: none | blur | jitter | blur+jitter"))] = None,
    reduction: Annotated[Optional[str], typer.Option(help=plan_default("reduction", "none | pca | autoencoder"))] = None,
    classifier: Annotated[Optional[str], typer.Option(help=plan_default("classifier", "Registered classifier"))] = None,
    preprocess: Annotated[Optional[PreprocessPolicy], typer.Option(case_sensitive=False, help=plan_default("preprocess", "resize | center_crop"))] = None,
    calibration: Annotated[Optional[str], typer.Option(help=plan_default("calibration", "Probability calibration on the validation split: sigmoid (Platt) | isotonic"))] = None,
    target_fpr: Annotated[Optional[float], typer.Option("--target-fpr", min=0.0, max=1.0, help=plan_default("target_fpr", "Pick the threshold that flags at most this fraction of real validation images (e.g. 0.05); without it the threshold is 0.5"))] = None,
    validation_size: Annotated[Optional[float], typer.Option(help=plan_default("validation_size", "Fraction held out for calibration and threshold"))] = None,
    seed: Annotated[Optional[int], typer.Option(help=plan_default("seed", "Split seed"))] = None,
    cache: CacheOption = None,
    data_root: DataRootOption = None,
    max_per_class: MaxPerClassOption = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    workers: WorkersOption = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing detector folder")] = False,
) -> int:
    """Train a detector (features, classifier, calibration, threshold) and save it as a folder."""
    from ..train import plan_from_grid, train_detector

    common = dict(calibration=calibration, target_fpr=target_fpr, validation_size=validation_size, seed=seed,
                  cache=str(cache) if cache else None)
    if from_grid is not None:
        chosen = (backbone, weights, transform, reduction, classifier, preprocess)
        given = {"DATASET": dataset, **{f"--{n.replace('_', '-')}": v for n, v in zip(GRID_CHOSEN, chosen)}}
        clashing = [flag for flag, value in given.items() if value is not None]
        if clashing:
            raise UserError(f"--from-grid chooses the method and data; do not also give {', '.join(clashing)}")
        plan = plan_from_grid(from_grid, **common)
        console.print(f"best grid cell: {_method_text(plan.origin)}", highlight=False)
    else:
        if dataset is None:
            raise UserError("give a DATASET to train on, or --from-grid RUN_DIR")
        plan = TrainingPlan.model_validate(merge_settings(
            {"dataset": dataset, "backbone": backbone, "weights": weights, "transform": transform, "reduction": reduction,
             "classifier": classifier, "preprocess": preprocess, "data_root": data_root, "max_per_class": max_per_class,
             **common}, places=TRAIN_PLACES))
    trained = train_detector(plan, output, batch_size, workers, progress=progress_bar, on_bad=warn, overwrite=overwrite)
    _print_training_summary(trained)
    return ExitStatus.PARTIAL if trained.unreadable else ExitStatus.OK


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
    graph = manifest.get("classic_graph") or {}
    if graph.get("file"):
        console.print(f"classic part also saved as {graph['file']} (ONNX Runtime scores it without scikit-learn; "
                      f"largest difference from scikit-learn on validation: {graph['max_abs_difference']:.1g})")
    else:
        console.print(f"[yellow]classic part saved for scikit-learn only[/] ({graph.get('reason', 'no graph')}): "
                      "predict loads scikit-learn, about a second more at start-up")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


DetectorOption = Annotated[
    Optional[Path],
    typer.Option("--detector", "-d", help="Detector folder (from `train`, `finetune`, `reference` or `adapt`), or 'builtin' (the default)"),
]


def split_detector_argument(detector: Path | None, paths: list[str]) -> tuple[Path | None, list[str]]:
    """(detector folder or None for the built-in one, image paths).

    The older form `predict DETECTOR_DIR PATH...` still works when it is unambiguous: no
    --detector, at least two arguments, and the first is a folder holding a manifest.json
    (a folder of images never holds one).
    """
    from ..detector.manifest import MANIFEST_FILE

    if detector is None and len(paths) >= 2 and (Path(paths[0]).expanduser() / MANIFEST_FILE).is_file():
        return Path(paths[0]), paths[1:]
    return detector, paths


@app.command()
def predict(
    paths: Annotated[list[str], typer.Argument(help="Images, folders (searched recursively) or .txt files listing paths")],
    detector: DetectorOption = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="table | csv | jsonl | json (default: by the -o suffix, else table on a terminal, csv in a pipe)")] = None,
    output: Annotated[Optional[Path], out_option("Write rows to this file (.csv, .jsonl, .json, .txt) instead of stdout")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    workers: WorkersOption = None,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
    device: DeviceOption = None,
    engine: EngineOption = DEFAULT_ENGINE,
    ray_address: RayAddressOption = None,
    shards: ShardsOption = None,
    runtime: RuntimeOption = "auto",
    trust_dir: TrustDirOption = None,
    allow_network: AllowNetworkOption = False,
    watermarks: WatermarksOption = False,
) -> int:
    """Score images: one row per image (path, pixel probability, verdict, evidence, error, note), then a summary.

    The verdict comes from all the evidence: C2PA Content Credentials, IPTC/XMP source type and
    generator metadata (read offline), then the pixel score. "no evidence found" is not proof of
    a real photograph. With the built-in detector unless --detector names one
    (`predict DETECTOR_DIR PATH...` also works). Exit status 0 when every image was scored, 1 when
    some could not be read (each has a row with the reason), 2 on a usage error or when the
    output cannot be written.
    """
    from ..detector import Detector
    from ..detector.builtin import detector_folder
    from ..engines import EngineOptions, get_engine
    from .rows import abandon_output, choose_format, collect_inputs, make_writer, open_output, write_rows

    chosen = choose_format(fmt, output)
    runner = get_engine(engine, EngineOptions(workers, runtime, ray_address, shards))
    detector, paths = split_detector_argument(detector, paths)
    detector = detector_folder(detector)
    reader = provenance_reader(trust_dir, allow_network, watermarks)
    loaded = Detector.load(detector, device, runtime=runtime, provenance=reader)
    inputs = collect_inputs(paths)
    for folder in inputs.empty_folders:
        warn(f"{folder}: no images found (looked for image suffixes, recursively)")
    if not inputs.paths:
        raise UserError("nothing to score: no image files among the given paths")
    handle = open_output(output) if output is not None else None
    try:
        writer = make_writer(chosen, handle)
        results = runner.predict(loaded, inputs.paths, batch_size, max_pixels)
        summary = write_rows(results, len(inputs.paths), writer, batch_size, None, str(output or "stdout"))
    except OutputError:
        if handle is not None:
            abandon_output(handle, output)
            handle = None
        raise
    finally:
        if handle is not None:
            handle.close()
    style = "yellow" if summary.failed or summary.flagged else "green"
    console.print(Text(summary.line(), style=style) + Text(f" (pixel threshold {loaded.threshold:.3f})"))
    if summary.verdicts.get("no evidence found"):
        console.print("'no evidence found' means neither pixels nor metadata point to a generator, not that the "
                      "image is real: the pixel model misses many fakes of generators it never saw", highlight=False)
    if output is not None:
        console.print(f"rows written to {output}", highlight=False)
    return ExitStatus.PARTIAL if summary.failed else ExitStatus.OK


@app.command()
def calibrate(
    detector: Annotated[Path, typer.Argument(help="Detector folder (any kind), or 'builtin' for the built-in detector")],
    reals: Annotated[Path, typer.Option("--reals", help="Folder of real photographs the detector never saw")],
    output: Annotated[Path, out_option("The calibrated detector folder (the model files are copied unchanged)")],
    target_fpr: Annotated[float, typer.Option("--target-fpr", min=0.0, max=1.0, help="Largest share of these reals to call fake")] = 0.05,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
) -> int:
    """Set a detector's threshold on held-out real photographs (e.g. from the domain you will screen).

    Only the threshold changes (AUC does not). Exit status 1 when some images could not be read.
    """
    from ..data.walk import image_files
    from ..calibrate import calibrate_detector
    from ..detector.builtin import detector_folder

    detector = detector_folder(detector)
    paths = image_files(reals)
    if not paths:
        raise UserError(f"{reals}: no images found")
    done = calibrate_detector(detector, paths, output, target_fpr, batch_size, warn)
    console.print(f"threshold {done.previous:.4f} -> {done.threshold:.4f} ({target_fpr:.0%} of {done.n_reals} reals above it) "
                  f"-> [bold]{done.path}[/]")
    return ExitStatus.PARTIAL if done.skipped else ExitStatus.OK


@app.command()
def ensemble(
    members: Annotated[list[Path], typer.Argument(help="Fine-tuned detector folders (from `finetune`), e.g. seeds of one recipe")],
    reals: Annotated[Path, typer.Option("--reals", help="Folder of real photographs none of the members trained on: half rank the members' scores, half set the threshold")],
    output: Annotated[Path, out_option("The ensemble's detector folder")],
    target_fpr: Annotated[float, typer.Option("--target-fpr", min=0.0, max=1.0, help="Largest share of the threshold half of --reals to call fake")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the split of --reals")] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
) -> int:
    """Rank-average fine-tuned detectors into one detector folder.

    Each member's score becomes its rank among held-out real photographs, and the ensemble
    scores the mean rank: seeds that disagree on unseen generators are all kept, and no
    member's scale decides. Exit status 1 when some images could not be read.
    """
    from ..data.walk import image_files
    from ..ensemble import build_ensemble

    paths = image_files(reals)
    if not paths:
        raise UserError(f"{reals}: no images found")
    skipped: list[str] = []

    def bad(message: str) -> None:
        skipped.append(message)
        warn(message)

    done = build_ensemble(members, paths, output, target_fpr, seed, batch_size, bad)
    console.print(f"rank ensemble of {done.members} detectors, ranked on {done.reference_reals} reals, threshold "
                  f"{done.threshold:.4f} ({target_fpr:.0%} of {done.calibration_reals} other reals above it) -> [bold]{done.path}[/]")
    return ExitStatus.PARTIAL if skipped else ExitStatus.OK


@app.command()
def serve(
    detector: Annotated[Optional[Path], typer.Argument(help="Detector folder (from `train`, `finetune`, `reference` or `adapt`), or 'builtin' (the default)")] = None,
    host: Annotated[str, typer.Option(help="Address to bind; the default serves this machine only")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    max_upload_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body, in MB")] = 25.0,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
    max_request_pixels: Annotated[int, typer.Option(min=1, help="Most decoded pixels in one request, all images together")] = 100_000_000,
    max_files: Annotated[int, typer.Option(min=1, help="Most images in one request")] = 16,
    max_batch: Annotated[int, typer.Option(min=1, help="Most images scored in one forward pass")] = 16,
    max_queued: Annotated[int, typer.Option(min=1, help="Most images waiting; beyond it requests get 503")] = 128,
    device: DeviceOption = None,
    runtime: RuntimeOption = "auto",
    trust_dir: TrustDirOption = None,
    allow_network: AllowNetworkOption = False,
    watermarks: WatermarksOption = False,
) -> None:
    """Serve the detector: POST /predict, GET /health, GET /model, a web page at /.

    Every upload goes through the provenance stage too (C2PA, XMP, generator metadata)."""
    import uvicorn

    from ..detector import Detector
    from ..detector.builtin import detector_folder
    from ..serve import create_app

    check_port_free(host, port)  # before the model loads, so a busy port costs nothing
    loaded = Detector.load(detector_folder(detector), device, runtime=runtime,
                           provenance=provenance_reader(trust_dir, allow_network, watermarks))
    if not is_loopback(host):
        warn(f"binding to {host}: anyone who can reach this machine on port {port} can use the detector "
             "(no authentication); put it behind a proxy with TLS and access control")
    app_ = create_app(loaded, max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=max_pixels,
                      max_request_pixels=max_request_pixels, max_batch=max_batch, max_files=max_files,
                      max_queued_images=max_queued)
    console.print(f"serving {loaded.describe()} at http://{_url_host(host)}:{port}/", highlight=False)
    uvicorn.run(app_, host=host, port=port, log_level="info", limit_concurrency=max(64, max_queued),
                timeout_graceful_shutdown=5)


def check_port_free(host: str, port: int) -> None:
    """One line when `host:port` cannot be listened on (in use, or not an address of this machine)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: not a usable address ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}; is another server there? "
                            "choose another --port") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
