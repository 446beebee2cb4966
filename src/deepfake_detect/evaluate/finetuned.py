"""Approach 1 inside the grid: score fine-tuned detectors on the grid's own test sets.

A fine-tuned network is evaluated on exactly the rows the frozen-feature methods are: the
within split (same seed, same content-disjoint split) of the dataset it was trained on, and
every other dataset whole (cross). Rows land in the same table, so the report compares them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..config import GridConfig
from ..console import progress_bar, warn
from ..data import Dataset
from .metrics import compute_metrics
from .splits import split_by_id


def evaluate_finetuned_detector(
    detector_dir: Path, datasets: dict[str, Dataset], config: GridConfig, done: Callable[[str], bool]
) -> Iterator[tuple[dict, np.ndarray, np.ndarray]]:
    """Yield (row, y_true, scores) for each test set; cells already done are skipped."""
    import time

    from ..detector import Detector
    from .grid import cell_id
    from .results import RESULT_COLUMNS

    detector = Detector.load(detector_dir)
    manifest = detector.manifest
    arch = manifest.get("arch", "finetuned")
    training_data = manifest.get("training_data") or {}
    trained_on = training_data.get("name", "")
    train_count = int(sum((training_data.get("counts") or {}).get("train", {}).values()))
    within = config.protocols.within
    seed = within.seeds[0] if within else config.seed
    for name, dataset in datasets.items():
        rows = np.arange(len(dataset))
        protocol = "cross"
        if name == trained_on and within:
            rows = split_by_id(dataset.labels, dataset.ids, within.test_size, seed)[1]
            protocol = "within"
        cid = cell_id(approach="finetune", detector=str(detector_dir), files=manifest.get("files"),
                      created=manifest.get("created"), test=name, protocol=protocol, seed=seed,
                      sources=config.datasets.get(name), max_per_class=config.max_per_class)
        if done(cid):
            yield {"cell_id": cid}, np.empty(0), np.empty(0)
            continue
        paths = [dataset.records[i].path for i in rows]
        labels = np.array([dataset.records[i].label for i in rows])
        started = time.perf_counter()
        scores, keep = [], []
        with progress_bar(f"{arch} (fine-tuned) on {name}", total=len(paths)) as advance:
            for prediction in detector.predict_paths(paths, batch_size=config.batch_size):
                if prediction.ok:
                    scores.append(prediction.probability)
                    keep.append(prediction.index)
                else:
                    warn(prediction.error or f"{prediction.path}: unreadable")
                advance(1)
        y_true = labels[keep]
        scores_array = np.asarray(scores, dtype=np.float64)
        metrics = compute_metrics(y_true, scores_array, threshold=detector.threshold,
                                  n_bootstrap=config.bootstrap, seed=seed)
        row = {
            "cell_id": cid, "approach": "finetune", "protocol": protocol, "train_dataset": trained_on or arch,
            "test_dataset": name, "perturbation": "none", "level": float("nan"), "transform": "none",
            "backbone": arch, "reduction": "none", "classifier": "finetune", "seed": seed, **metrics,
            "fit_seconds": float("nan"),  # trained elsewhere; its run folder's run.json has the time
            "predict_seconds": time.perf_counter() - started,
            "n_train": train_count, "n_test": int(len(y_true)),
        }
        yield {k: row.get(k) for k in RESULT_COLUMNS}, y_true, scores_array
