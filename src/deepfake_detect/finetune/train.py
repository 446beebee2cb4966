"""Approach 1: fine-tune a pretrained CNN end to end, then evaluate it like the grid does.

`run_finetune(config)` is the whole run: split, train with a validation set, keep the best
epoch, export it as RUN_DIR/detector, then score that detector on the held-out split (and
extra test sets, and degraded copies) and write the results table and the report. Every
finished epoch and every evaluated cell is saved as it completes, so `resume=True` after a
crash or Ctrl-C loses only the epoch or cell in flight and ends with the same weights and
results as an uninterrupted run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml

from ..backbones.finetuned import build_finetune_network
from ..data import load_dataset
from ..errors import FinetuneError
from ..runs.folder import write_config_text, write_run_info
from ..runtime import versions
from .config import FinetuneConfig
from .epochs import BEST_WEIGHTS_FILE, CHECKPOINT_FILE, EpochCallback, train, validation_threshold
from .evaluate import evaluate_run
from .export import export_detector
from .splits import Splits, load_training_data, split_dataset
from .state import TrainingState, load_weights

log = logging.getLogger(__name__)

__all__ = ["FinetuneConfig", "FinetuneError", "FinetuneResult", "run_finetune"]


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
    """Validate, split, train, export, evaluate. Problems with the inputs surface before training."""
    run_dir = Path(config.out)
    check_run_folder(run_dir, resume)
    dataset = load_training_data(config)
    cross_sets = [load_dataset(name, config.data_root, config.max_per_class, config.seed).check_usable()
                  for name in config.test]
    if not (resume and (run_dir / CHECKPOINT_FILE).is_file()):
        build_finetune_network(config.arch, config.weights, seed=config.seed)  # weights problems now, not later
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config_text(run_dir, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    splits = split_dataset(dataset, config.test_size, config.val_size, config.seed)
    announce(splits)
    trainer, state = train(config, splits, resume, on_epoch_end)
    load_weights(trainer.network, run_dir / BEST_WEIGHTS_FILE)
    rule = validation_threshold(trainer, splits, config)
    detector_dir = export_detector(config, trainer.network, splits, state, rule)
    results = evaluate_run(config, detector_dir, splits, cross_sets, state)
    write_run_info(run_dir, run_info(config, state, trainer.device))
    return FinetuneResult(run_dir, results, state, detector_dir)


def announce(splits: Splits) -> None:
    counts = splits.counts()
    text = ", ".join(f"{part} {c['real']} real + {c['fake']} fake" for part, c in counts.items())
    log.info(f"{splits.dataset.name}: {text}")


def run_info(config: FinetuneConfig, state: TrainingState, device: torch.device) -> dict:
    return {"approach": "finetune", "arch": config.arch, "device": str(device), "threads": torch.get_num_threads(),
            "epochs_trained": state.epoch, "best_epoch": state.best_epoch, "stopped_early": state.stopped_early,
            "fit_seconds": round(state.fit_seconds(), 1), "versions": versions()}


