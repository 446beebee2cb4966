"""Approach 1: fine-tune a pretrained CNN end to end, then evaluate it like the grid does.

`run_finetune(config)` is the whole run: split, train with a validation set, keep the best
epoch, evaluate on the held-out split (and extra test sets, and degraded copies), write the
results table, the report and a detector folder. Every finished epoch is checkpointed
atomically, so `resume=True` after a crash or Ctrl-C loses only the epoch in flight and ends
with the same weights as an uninterrupted run.
"""

from __future__ import annotations

from ..errors import FinetuneError

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..console import console, progress_bar, warn
from ..data import Dataset, ImageRecord, load_dataset
from ..evaluate.metrics import compute_metrics
from ..evaluate.results import write_results
from ..evaluate.splits import split_by_id
from ..transforms.preprocess import build_preprocess
from .augment import AugmentSpec, build_train_transform
from .data import (
    BadFileReporter,
    RecordImages,
    default_workers,
    epoch_seed,
    make_loader,
    seed_everything,
)
from .evaluate import (
    EvalCell,
    Predictions,
    RunIdentity,
    best_device,
    evaluate_cells,
    logits_of,
    memory_format,
    plan_cells,
    predict,
)
from .network import (
    FINETUNE_ARCHS,
    FinetuneNetwork,
    build_finetune_network,
    load_weights,
    save_weights,
    write_detector,
)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_WEIGHTS_FILE = "best.safetensors"
CHECKPOINT_FORMAT = 1
RESUME_FREE_KEYS = frozenset({"out", "test", "robustness", "workers", "data_root", "bootstrap"})
"""Options that may change on --resume: they do not touch training."""




class FinetuneConfig(BaseModel):
    """Everything a fine-tuning run does. Defaults are the seed's recipe (a GPU budget)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    out: Path
    arch: str = "resnet50"
    weights: str = "pretrained"
    epochs: int = Field(80, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-5, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    image_size: int = Field(256, ge=16)
    preprocess: Literal["resize", "center_crop"] = "resize"
    test_size: float = Field(0.2, gt=0, lt=1)
    val_size: float = Field(0.1, gt=0, lt=1)
    seed: int = 0
    augment: AugmentSpec = AugmentSpec()
    early_stopping: int | None = Field(None, ge=1, description="patience in epochs")
    schedule: Literal["none", "cosine", "step"] = "none"
    test: list[str] = []
    robustness: bool = False
    max_per_class: int | None = Field(None, ge=1)
    workers: int | None = Field(None, ge=0)
    data_root: str | None = None
    max_pixels: int = Field(50_000_000, ge=1)
    bootstrap: int = Field(1000, ge=0)

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        if value not in FINETUNE_ARCHS:
            raise ValueError(f"unknown architecture '{value}'; choose from {', '.join(FINETUNE_ARCHS)}")
        return value

    def training_view(self) -> dict[str, Any]:
        """The options an interrupted run must resume with unchanged."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in RESUME_FREE_KEYS}


# ---------------------------------------------------------------- data


@dataclass
class Splits:
    dataset: Dataset
    train: list[ImageRecord]
    val: list[ImageRecord]
    test: list[ImageRecord]

    def counts(self) -> dict[str, dict[str, int]]:
        return {part: Dataset(part, getattr(self, part)).counts() for part in ("train", "val", "test")}


def load_training_data(config: FinetuneConfig) -> Dataset:
    dataset = load_dataset(config.dataset, config.data_root, config.max_per_class, config.seed)
    return dataset.check_usable()


def split_dataset(dataset: Dataset, test_size: float, val_size: float, seed: int) -> Splits:
    """The grid's within split (same call, same seed), then validation carved out of train."""
    labels, ids = np.asarray(dataset.labels), np.asarray(dataset.ids)
    train_rows, test_rows = split_by_id(labels, ids, test_size, seed)
    fit_rows, val_rows = split_by_id(labels[train_rows], ids[train_rows], val_size, seed)

    def pick(rows: np.ndarray) -> list[ImageRecord]:
        return [dataset.records[i] for i in rows]

    return Splits(dataset, pick(train_rows[fit_rows]), pick(train_rows[val_rows]), pick(test_rows))


# ---------------------------------------------------------------- training state


@dataclass
class TrainingState:
    """Where training stands after `epoch` finished epochs; all of it goes into the checkpoint."""

    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    stale_epochs: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)

    def fit_seconds(self) -> float:
        return float(sum(row["seconds"] for row in self.history))

    def record(self, row: dict[str, float], patience: int | None) -> bool:
        """Add an epoch's row; True when it is the best so far (by val AUC, else val loss)."""
        self.history.append(row)
        self.epoch = int(row["epoch"])
        score = row["val_auc"] if math.isfinite(row["val_auc"]) else -row["val_loss"]
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.stale_epochs = score, self.epoch, 0
        else:
            self.stale_epochs += 1
        self.stopped_early = patience is not None and self.stale_epochs >= patience
        return improved


@dataclass
class Trainer:
    """The network and everything that moves with it from epoch to epoch."""

    network: FinetuneNetwork
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler
    device: torch.device


def make_scheduler(optimizer: torch.optim.Optimizer, config: FinetuneConfig):
    """cosine: to zero over the run. step: lr / 10 at one and two thirds of the epochs."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1)
    return None


def make_trainer(config: FinetuneConfig, device: torch.device, weights: str | None = None) -> Trainer:
    network = build_finetune_network(config.arch, weights or config.weights, seed=config.seed)
    network = network.to(device, memory_format=memory_format(device))
    optimizer = torch.optim.SGD(network.parameters(), lr=config.lr, momentum=config.momentum)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    return Trainer(network, optimizer, make_scheduler(optimizer, config), scaler, device)


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, trainer: Trainer, state: TrainingState, config: FinetuneConfig) -> None:
    """Tensors, dicts, lists and numbers only, so it loads with `weights_only=True`."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config.training_view(),
        "state": asdict(state),
        "model": trainer.network.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler else {},
        "scaler": trainer.scaler.state_dict(),
    }
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def restore_checkpoint(path: Path, trainer: Trainer, config: FinetuneConfig) -> TrainingState:
    payload = torch.load(path, map_location=trainer.device, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise FinetuneError(f"{path}: unknown checkpoint format {payload.get('format')!r}")
    changed = sorted(k for k, v in config.training_view().items() if payload["config"].get(k) != v)
    if changed:
        details = ", ".join(f"{k}: {payload['config'].get(k)!r} -> {config.training_view()[k]!r}" for k in changed)
        raise FinetuneError(f"cannot resume {path.parent}: training options changed ({details})")
    trainer.network.load_state_dict(payload["model"])
    trainer.optimizer.load_state_dict(payload["optimizer"])
    if trainer.scheduler:
        trainer.scheduler.load_state_dict(payload["scheduler"])
    trainer.scaler.load_state_dict(payload["scaler"])
    return TrainingState(**payload["state"])


# ---------------------------------------------------------------- one epoch


def train_one_epoch(trainer: Trainer, images: RecordImages, config: FinetuneConfig, epoch: int, workers: int,
                    report_bad: BadFileReporter) -> float:
    """Mean training cross-entropy over the epoch."""
    seed = epoch_seed(config.seed, epoch)
    seed_everything(seed)
    trainer.network.train()
    loss_sum, seen = 0.0, 0
    loader = make_loader(images, config.batch_size, workers, shuffle=True, seed=seed)
    with progress_bar(f"epoch {epoch}/{config.epochs}", total=len(images)) as advance:
        for batch in loader:
            report_bad(batch.bad)
            # BatchNorm cannot train on one image whose feature map has shrunk to 1x1.
            if batch.images is not None and len(batch) > 1:
                loss_sum += training_step(trainer, batch.images, batch.labels) * len(batch)
                seen += len(batch)
            advance(len(batch) + len(batch.bad))
    if trainer.scheduler:
        trainer.scheduler.step()
    return loss_sum / max(seen, 1)


def training_step(trainer: Trainer, images: torch.Tensor, labels: torch.Tensor) -> float:
    logits = logits_of(trainer.network, images, trainer.device)
    loss = F.cross_entropy(logits, labels.to(trainer.device))
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.scaler.scale(loss).backward()
    trainer.scaler.step(trainer.optimizer)
    trainer.scaler.update()
    return float(loss.detach())


def epoch_line(row: dict[str, float], epochs: int, improved: bool) -> str:
    return (
        f"epoch {int(row['epoch'])}/{epochs}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
        f"val AUC {row['val_auc']:.4f}  val acc {row['val_accuracy']:.4f}  lr {row['lr']:.2e}  "
        f"{row['seconds']:.1f}s" + ("  [green]best[/]" if improved else "")
    )


# ---------------------------------------------------------------- history and curves


CURVES_EVERY_SECONDS = 60.0
"""Redraw curves.png at most this often during training (matplotlib takes seconds on a busy
CPU, which would dominate tiny runs) and always when training ends."""


def write_history(history: list[dict[str, float]], run_dir: Path) -> None:
    pd.DataFrame(history).to_csv(run_dir / "history.csv", index=False)


class CurvePlotter:
    def __init__(self, run_dir: Path):
        self.path = run_dir / "curves.png"
        self.last_drawn = time.monotonic()

    def update(self, history: list[dict[str, float]], final: bool = False) -> None:
        if history and (final or time.monotonic() - self.last_drawn >= CURVES_EVERY_SECONDS):
            plot_curves(history, self.path)
            self.last_drawn = time.monotonic()


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss and validation AUC/accuracy per epoch; Agg canvas, no pyplot global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    losses, quality = figure.subplots(1, 2)
    losses.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    losses.plot(epochs, [r["val_loss"] for r in history], "o-", label="validation")
    losses.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    quality.plot(epochs, [r["val_auc"] for r in history], "o-", label="val AUC")
    quality.plot(epochs, [r["val_accuracy"] for r in history], "o-", label="val accuracy")
    quality.set(xlabel="epoch", ylim=(0, 1.02), title="validation")
    for axes in (losses, quality):
        axes.legend()
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    partial = path.with_name(path.stem + ".partial.png")
    figure.savefig(partial, dpi=100)
    os.replace(partial, path)


# ---------------------------------------------------------------- the training loop


EpochCallback = Callable[[dict[str, float]], None]


def train(
    config: FinetuneConfig,
    splits: Splits,
    resume: bool = False,
    on_epoch_end: EpochCallback | None = None,
    device: torch.device | None = None,
) -> tuple[Trainer, TrainingState]:
    """Train until `config.epochs` or early stopping; the network ends holding the *last* epoch."""
    run_dir, device = Path(config.out), device or best_device()
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / CHECKPOINT_FILE
    resuming = resume and checkpoint.is_file()
    # A resumed network gets every weight from the checkpoint: no need to fetch pretrained ones.
    trainer = make_trainer(config, device, weights="random" if resuming else None)
    state = restore_checkpoint(checkpoint, trainer, config) if resuming else TrainingState()
    if resuming:
        console.print(f"resuming {run_dir} after epoch {state.epoch}")
    info = trainer.network.info
    train_images = RecordImages(
        splits.train, build_train_transform(config.preprocess, config.image_size, info.mean, info.std, config.augment),
        max_pixels=config.max_pixels,
    )
    val_images = RecordImages(splits.val, eval_transform(config, trainer.network), max_pixels=config.max_pixels)
    workers = default_workers() if config.workers is None else config.workers
    report_bad = BadFileReporter(warn)
    curves = CurvePlotter(run_dir)
    while state.epoch < config.epochs and not state.stopped_early:
        epoch, started = state.epoch + 1, time.perf_counter()
        lr = trainer.optimizer.param_groups[0]["lr"]
        train_loss = train_one_epoch(trainer, train_images, config, epoch, workers, report_bad)
        val = predict(trainer.network, val_images, device, config.batch_size, workers, report_bad)
        metrics = compute_metrics(val.y_true, val.scores, n_bootstrap=0)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val.loss, "val_auc": metrics["auc"],
               "val_accuracy": metrics["accuracy"], "lr": lr, "seconds": time.perf_counter() - started}
        improved = state.record(row, config.early_stopping)
        if improved:
            save_weights(trainer.network, run_dir / BEST_WEIGHTS_FILE)
        save_checkpoint(checkpoint, trainer, state, config)
        write_history(state.history, run_dir)
        curves.update(state.history)
        console.print(epoch_line(row, config.epochs, improved), highlight=False, soft_wrap=True)
        if state.stopped_early:
            console.print(f"early stopping: no improvement for {config.early_stopping} epochs")
        if on_epoch_end:
            on_epoch_end(row)
    curves.update(state.history, final=True)
    return trainer, state


def eval_transform(config: FinetuneConfig, network: FinetuneNetwork):
    """Exactly the preprocessing a detector applies at prediction time (from its manifest)."""
    return build_preprocess(config.preprocess, config.image_size, network.info.mean, network.info.std)


# ---------------------------------------------------------------- the whole run


@dataclass
class FinetuneResult:
    run_dir: Path
    results: pd.DataFrame
    state: TrainingState
    detector_dir: Path

    def within(self) -> pd.Series:
        return self.results[self.results["protocol"] == "within"].iloc[0]


def check_run_folder(run_dir: Path, resume: bool) -> None:
    if (run_dir / CHECKPOINT_FILE).exists() and not resume:
        raise FinetuneError(f"{run_dir} already holds a fine-tuning run; pass --resume to continue it or choose another --out")


def run_finetune(
    config: FinetuneConfig, resume: bool = False, on_epoch_end: EpochCallback | None = None
) -> FinetuneResult:
    """Validate, split, train, evaluate, export. Problems with the inputs surface before training."""
    run_dir = Path(config.out)
    check_run_folder(run_dir, resume)
    dataset = load_training_data(config)
    cross_sets = [load_dataset(name, config.data_root, config.max_per_class, config.seed).check_usable()
                  for name in config.test]
    if not (resume and (run_dir / CHECKPOINT_FILE).is_file()):
        build_finetune_network(config.arch, config.weights, seed=config.seed)  # weights problems now, not later
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    splits = split_dataset(dataset, config.test_size, config.val_size, config.seed)
    announce(splits)
    trainer, state = train(config, splits, resume, on_epoch_end)
    load_weights(trainer.network, run_dir / BEST_WEIGHTS_FILE)
    results = evaluate_run(config, trainer, splits, cross_sets, state)
    detector_dir = export_detector(config, trainer, splits, state, results)
    write_run_info(config, state, trainer.device, run_dir)
    write_report_safely(run_dir)
    return FinetuneResult(run_dir, results, state, detector_dir)


def announce(splits: Splits) -> None:
    counts = splits.counts()
    text = ", ".join(f"{part} {c['real']} real + {c['fake']} fake" for part, c in counts.items())
    console.print(f"{splits.dataset.name}: {text}", highlight=False, soft_wrap=True)


def evaluate_run(config: FinetuneConfig, trainer: Trainer, splits: Splits, cross_sets: list[Dataset],
                 state: TrainingState) -> pd.DataFrame:
    run_dir = Path(config.out)
    to_tensor = eval_transform(config, trainer.network)
    workers = default_workers() if config.workers is None else config.workers
    report_bad = BadFileReporter(warn)

    def score_cell(cell: EvalCell) -> Predictions:
        images = RecordImages(cell.records, to_tensor, cell.degradation(), config.max_pixels)
        return predict(trainer.network, images, trainer.device, config.batch_size, workers, report_bad,
                       description=f"test {cell.label()}")

    cells = plan_cells(splits.dataset.name, splits.test, [(d.name, d.records) for d in cross_sets], config.robustness)
    identity = RunIdentity(config.arch, splits.dataset.name, config.seed, state.fit_seconds(), len(splits.train))
    results = evaluate_cells(cells, score_cell, identity, run_dir, config.bootstrap)
    write_results(results, run_dir)
    return results


def validation_metrics(config: FinetuneConfig, trainer: Trainer, splits: Splits) -> dict[str, float]:
    images = RecordImages(splits.val, eval_transform(config, trainer.network), max_pixels=config.max_pixels)
    workers = default_workers() if config.workers is None else config.workers
    val = predict(trainer.network, images, trainer.device, config.batch_size, workers, BadFileReporter(warn))
    return compute_metrics(val.y_true, val.scores, n_bootstrap=config.bootstrap, seed=config.seed)


def export_detector(config: FinetuneConfig, trainer: Trainer, splits: Splits, state: TrainingState,
                    results: pd.DataFrame) -> Path:
    """RUN_DIR/detector: the best weights and what `predict` needs to use them the same way."""
    network = trainer.network
    within = results[results["protocol"] == "within"].iloc[0]
    manifest = {
        "kind": "finetune",
        "arch": config.arch,
        "input_size": config.image_size,
        "mean": list(network.info.mean),
        "std": list(network.info.std),
        "preprocess": config.preprocess,
        "threshold": 0.5,
        "calibration": None,
        "output": "softmax(logits)[:, 1] is the probability that the image is generated (label 1)",
        "metrics": json_safe(validation_metrics(config, trainer, splits)),
        "test_metrics": json_safe({k: within[k] for k in ("accuracy", "auc", "ap", "eer", "n_test")}),
        "training_data": {"name": splits.dataset.name, "source": config.dataset, "counts": splits.counts()},
        "training": {**config.model_dump(mode="json", exclude={"out", "data_root", "workers"}),
                     "best_epoch": state.best_epoch, "epochs_trained": state.epoch},
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return write_detector(network.to("cpu"), manifest, Path(config.out) / "detector")


def json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """Numbers as plain floats/ints, NaN as null (JSON has no NaN)."""
    out = {}
    for key, value in values.items():
        value = value.item() if hasattr(value, "item") else value
        out[key] = None if isinstance(value, float) and not math.isfinite(value) else value
    return out


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("deepfake-detect", "torch", "torchvision", "timm", "safetensors"):
        try:
            found[package.replace("-", "_")] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package.replace("-", "_")] = "unknown"
    return found


def write_run_info(config: FinetuneConfig, state: TrainingState, device: torch.device, run_dir: Path) -> None:
    info = {"approach": "finetune", "arch": config.arch, "device": str(device), "threads": torch.get_num_threads(),
            "epochs_trained": state.epoch, "best_epoch": state.best_epoch, "stopped_early": state.stopped_early,
            "fit_seconds": round(state.fit_seconds(), 1), "versions": versions()}
    (run_dir / "run.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def write_report_safely(run_dir: Path) -> None:
    """The results are already on disk; a report failure should not hide them."""
    from ..report import write_report

    try:
        write_report(run_dir)
    except Exception as exc:  # noqa: BLE001  (plotting and templating fail in many ways)
        warn(f"report not written ({type(exc).__name__}: {exc}); results are in {run_dir / 'results.csv'}")
