"""The network in training and everything that moves with it: optimizer, schedule, scaler,
the training state, checkpoints (resumable after a crash) and the best epoch's weights."""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..backbones.finetuned import FinetuneNetwork, build_finetune_network, weights_bytes
from ..errors import FinetuneError, WeightsError
from ..runtime import atomic_write_bytes
from .config import FinetuneConfig

CHECKPOINT_FORMAT = 1


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

    def best_row(self) -> dict[str, float]:
        return next((row for row in self.history if int(row["epoch"]) == self.best_epoch), {})

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


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last: cuDNN's tensor-core kernels on CUDA, and oneDNN's faster convolutions on the
    CPU too (EfficientNet-Lite0 trains ~1.3x faster on this project's 2-core CPU)."""
    return torch.channels_last


def autocast(device: torch.device):
    """Mixed precision on CUDA only: CPU bfloat16 is slower on most CPUs and changes results."""
    return torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else nullcontext()


def logits_of(network: nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    images = images.to(device, non_blocking=True, memory_format=memory_format(device))
    with autocast(device):
        return network(images).float()


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


# --- checkpoints and the best weights --------------------------------------------------------------


def save_checkpoint(path: Path, trainer: Trainer, state: TrainingState, config: FinetuneConfig) -> None:
    """Tensors, dicts, lists and numbers only, so it loads with `weights_only=True`; atomic."""
    import io

    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config.training_view(),
        "state": asdict(state),
        "model": trainer.network.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler else {},
        "scaler": trainer.scaler.state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def restore_checkpoint(path: Path, trainer: Trainer, config: FinetuneConfig) -> TrainingState:
    payload = torch.load(path, map_location=trainer.device, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise FinetuneError(f"{path}: unknown checkpoint format {payload.get('format')!r}")
    saved, now = saved_training_view(payload["config"], config), config.training_view()
    changed = sorted(k for k, v in now.items() if saved.get(k) != v)
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        raise FinetuneError(f"cannot resume {path.parent}: training options changed ({details})")
    trainer.network.load_state_dict(payload["model"])
    trainer.optimizer.load_state_dict(payload["optimizer"])
    if trainer.scheduler:
        trainer.scheduler.load_state_dict(payload["scheduler"])
    trainer.scaler.load_state_dict(payload["scaler"])
    return TrainingState(**payload["state"])


def saved_training_view(saved: dict, config: FinetuneConfig) -> dict:
    """A checkpoint's training options, with those added since it was written at their defaults
    (which reproduce what it trained with), so an older run still resumes."""
    from pydantic import ValidationError

    try:
        return FinetuneConfig.model_validate({**saved, "out": config.out}).training_view()
    except ValidationError:
        return saved


def save_weights(network: nn.Module, path: Path) -> None:
    """Atomic: a reader (or a crash) never sees half a file."""
    atomic_write_bytes(path, weights_bytes(network))


def load_weights(network: nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    result = network.load_state_dict(load_file(str(path)), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"{path}: does not fit the network ({len(result.missing_keys)} missing keys, "
            f"e.g. {result.missing_keys[:2]}; {len(result.unexpected_keys)} unexpected, "
            f"e.g. {result.unexpected_keys[:2]})"
        )
