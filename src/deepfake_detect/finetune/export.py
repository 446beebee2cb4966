"""RUN_DIR/detector: the best epoch's network as a detector folder, written by `detector.folder`.

The manifest records the exact preprocessing the run evaluated with, so `predict` and
`serve` score an image the same way the run's own results did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..backbones.finetuned import FinetuneNetwork, weights_bytes
from ..detector.kinds.network import WEIGHTS_FILE
from ..detector.folder import write_detector_folder
from ..detector.onnx_export import finetuned_with_onnx
from ..runtime import versions
from .config import FinetuneConfig
from .data import preprocessing
from .splits import Splits
from .state import TrainingState

DETECTOR_DIR = "detector"


def export_detector(config: FinetuneConfig, network: FinetuneNetwork, splits: Splits, state: TrainingState,
                    threshold_rule: dict) -> Path:
    """Write RUN_DIR/detector (replacing an earlier export of the same run) and return its path.

    `threshold_rule` was set on the validation reals (`epochs.validation_threshold`)."""
    info = network.info
    prep = preprocessing(config, info)
    best = state.best_row()
    manifest = {
        "kind": "finetune",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "backbone": {"name": config.arch, "weights_id": f"finetuned-from:{_weights_source(config.weights)}",
                     "embed_dim": info.embed_dim},
        "preprocess": {"policy": prep.policy, "size": prep.size, "mean": list(prep.mean), "std": list(prep.std)},
        "threshold": threshold_rule["threshold"],
        "threshold_rule": threshold_rule,
        "calibration": None,
        "output": "softmax(logits)[:, 1] is the probability that the image is generated (label 1)",
        "validation": {
            "fraction": config.val_size, "seed": config.seed, "best_epoch": state.best_epoch,
            "metrics": {"auc": best.get("val_auc"), "accuracy": best.get("val_accuracy"), "loss": best.get("val_loss")},
            "note": "the best epoch was chosen on this split, so these metrics are slightly optimistic",
        },
        "training_data": {"name": splits.dataset.name, "source": config.dataset, "counts": splits.counts()},
        "training": {**config.model_dump(mode="json", exclude={"out", "data_root", "workers"}),
                     "best_epoch": state.best_epoch, "epochs_trained": state.epoch},
        "run": str(Path(config.out).resolve()),
        "versions": versions(),
    }
    manifest, files = finetuned_with_onnx(manifest, {WEIGHTS_FILE: weights_bytes(network)}, network.eval(), prep.size)
    return write_detector_folder(Path(config.out) / DETECTOR_DIR, manifest, files)


def _weights_source(weights: str) -> str:
    return weights if weights in ("pretrained", "random") else str(Path(weights).expanduser().resolve())
