"""The one results table both approaches write: its columns and how it is saved."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RESULT_COLUMNS = [
    "cell_id", "approach", "protocol", "train_dataset", "test_dataset", "perturbation", "level",
    "transform", "backbone", "reduction", "classifier", "seed",
    "accuracy", "real_accuracy", "fake_accuracy", "ap", "auc", "auc_low", "auc_high",
    "best_accuracy", "tpr_at_5fpr", "eer", "fit_seconds", "predict_seconds", "n_train", "n_test",
]  # fmt: skip
METRIC_NAMES = RESULT_COLUMNS[RESULT_COLUMNS.index("accuracy") : RESULT_COLUMNS.index("fit_seconds")]


def write_results(table: pd.DataFrame, run_dir: Path) -> Path:
    """results.csv for people and spreadsheets, results.parquet for typed reloading."""
    path = run_dir / "results.csv"
    table.to_csv(path, index=False)
    table.to_parquet(run_dir / "results.parquet", index=False)
    return path
