"""The training loop: epochs of SGD, a validation pass after each, checkpoints, early stopping.

The network ends holding the *last* epoch; the best epoch's weights are in best.safetensors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..backbones.finetuned import fake_probability
from ..progress import progress_bar
from ..data.loader import ImageTensors, image_loader
from ..evaluate.metrics import compute_metrics
from ..runtime import best_device
from .config import FinetuneConfig
from .curves import CurvePlotter, write_history
from .data import (
    BadFileReporter,
    epoch_batches,
    epoch_seed,
    evaluation_images,
    image_count,
    preprocessing,
    seed_everything,
    training_images,
)
from .pairs import PairTensors
from .splits import Splits
from .state import (
    Trainer,
    TrainingState,
    logits_of,
    make_trainer,
    restore_checkpoint,
    save_checkpoint,
    save_weights,
)

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_WEIGHTS_FILE = "best.safetensors"
EpochCallback = Callable[[dict[str, float]], None]


def train_one_epoch(trainer: Trainer, images: ImageTensors | PairTensors, config: FinetuneConfig, epoch: int,
                    workers: int, report_bad: BadFileReporter) -> float:
    """Mean training cross-entropy over the epoch."""
    seed = epoch_seed(config.seed, epoch)
    seed_everything(seed)
    trainer.network.train()
    loss_sum, seen = 0.0, 0
    loader = epoch_batches(images, config, workers, seed)
    with progress_bar(f"epoch {epoch}/{config.epochs}", total=image_count(images)) as advance:
        for batch in loader:
            report_bad(batch.bad)
            # BatchNorm cannot train on one image whose feature map has shrunk to 1x1.
            if batch.images is not None and len(batch) > 1:
                loss_sum += training_step(trainer, batch.images, batch.labels) * len(batch)
                seen += len(batch)
            advance(batch.covered)
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


@dataclass(frozen=True)
class Validation:
    loss: float
    auc: float
    accuracy: float


def validate(trainer: Trainer, images: ImageTensors, config: FinetuneConfig, workers: int,
             report_bad: BadFileReporter) -> Validation:
    """Mean cross-entropy, AUC and accuracy on the validation images (to choose the best epoch)."""
    y_true, y_score, loss_sum = validation_scores(trainer, images, config, workers, report_bad)
    metrics = compute_metrics(y_true, y_score, n_bootstrap=0)
    return Validation(loss_sum / max(len(y_true), 1), metrics["auc"], metrics["accuracy"])


def validation_scores(trainer: Trainer, images: ImageTensors, config: FinetuneConfig, workers: int,
                      report_bad: BadFileReporter) -> tuple[np.ndarray, np.ndarray, float]:
    """(labels, P(fake), summed cross-entropy) of the network on the validation images."""
    trainer.network.eval()
    labels, scores, loss_sum = [], [], 0.0
    with torch.inference_mode():
        for batch in image_loader(images, config.batch_size, workers):
            report_bad(batch.bad)
            if batch.images is None:
                continue
            logits = logits_of(trainer.network, batch.images, trainer.device)
            loss_sum += float(F.cross_entropy(logits, batch.labels.to(trainer.device), reduction="sum"))
            scores.append(fake_probability(logits).cpu().numpy())
            labels.append(batch.labels.numpy())
    y_true = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    y_score = np.concatenate(scores).astype(np.float64) if scores else np.zeros(0)
    return y_true, y_score, loss_sum


def validation_threshold(trainer: Trainer, splits: Splits, config: FinetuneConfig) -> dict:
    """The threshold rule of the network as it is now (the best epoch's weights): at most
    `config.target_fpr` of the validation reals above it, as `train --target-fpr` sets it.
    A softmax's own 0.5 can sit anywhere on a ranking: AUC 0.95 with accuracy 0.50."""
    from ..evaluate.metrics import threshold_rule

    images = evaluation_images(splits.val, config, preprocessing(config, trainer.network.info))
    y_true, y_score, _ = validation_scores(trainer, images, config, config.decoding_workers(), BadFileReporter(log.warning))
    rule = threshold_rule(y_score, y_true, config.target_fpr)
    return {**rule, "threshold": float(min(max(rule["threshold"], 0.0), 1.0)), "calibration_split": "validation"}


def epoch_line(row: dict[str, float], epochs: int, improved: bool) -> str:
    return (
        f"epoch {int(row['epoch'])}/{epochs}  train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
        f"val AUC {row['val_auc']:.4f}  val acc {row['val_accuracy']:.4f}  lr {row['lr']:.2e}  "
        f"{row['seconds']:.1f}s" + ("  best" if improved else "")
    )


def train(
    config: FinetuneConfig,
    splits: Splits,
    resume: bool = False,
    on_epoch_end: EpochCallback | None = None,
    device: torch.device | None = None,
) -> tuple[Trainer, TrainingState]:
    """Train until `config.epochs` or early stopping; every finished epoch is checkpointed."""
    run_dir, device = Path(config.out), device or best_device()
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / CHECKPOINT_FILE
    resuming = resume and checkpoint.is_file()
    # A resumed network gets every weight from the checkpoint: no need to fetch pretrained ones.
    trainer = make_trainer(config, device, weights="random" if resuming else None)
    state = restore_checkpoint(checkpoint, trainer, config) if resuming else TrainingState()
    if resuming:
        log.info(f"resuming {run_dir} after epoch {state.epoch}")
    prep = preprocessing(config, trainer.network.info)
    train_images = training_images(splits.train, config, prep)
    val_images = evaluation_images(splits.val, config, prep)
    workers = config.decoding_workers()
    report_bad = BadFileReporter(log.warning)
    curves = CurvePlotter(run_dir)
    while state.epoch < config.epochs and not state.stopped_early:
        epoch, started = state.epoch + 1, time.perf_counter()
        lr = trainer.optimizer.param_groups[0]["lr"]
        train_loss = train_one_epoch(trainer, train_images, config, epoch, workers, report_bad)
        val = validate(trainer, val_images, config, workers, report_bad)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val.loss, "val_auc": val.auc,
               "val_accuracy": val.accuracy, "lr": lr, "seconds": time.perf_counter() - started}
        improved = state.record(row, config.early_stopping)
        if improved:
            save_weights(trainer.network, run_dir / BEST_WEIGHTS_FILE)
        save_checkpoint(checkpoint, trainer, state, config)
        write_history(state.history, run_dir)
        curves.update(state.history)
        log.info(epoch_line(row, config.epochs, improved))
        if state.stopped_early:
            log.info(f"early stopping: no improvement for {config.early_stopping} epochs")
        if on_epoch_end:
            on_epoch_end(row)
    curves.update(state.history, final=True)
    return trainer, state
