"""Numbers and summary frames turned into display tables (all cells strings).

HTML and Markdown render the very same display tables, so the two outputs can never
disagree about a number.
"""

from __future__ import annotations

import math

import pandas as pd

from .scores import pair_label
from ..runs.schema import KEY_COLUMNS, METRICS, NUMERIC, metric_label
from .tables import sort_by_metric

MISSING = "–"


def number(value: float, digits: int = 3) -> str:
    """Fixed decimals, a dash for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{value:.{digits}f}"


def mean_std(mean: float, std: float, digits: int = 3) -> str:
    """"0.973 ± 0.004" over several seeds, just "0.973" for one."""
    text = number(mean, digits)
    if text != MISSING and std is not None and math.isfinite(std):
        text += f" ± {std:.{digits}f}"
    return text


def with_interval(value: float, low: float, high: float) -> str:
    """"0.973 [0.961, 0.984]" (confidence interval), or just the value if bounds are missing."""
    text = number(value)
    if text != MISSING and number(low) != MISSING and number(high) != MISSING:
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def dataset_cell(row: pd.Series) -> str:
    """"ds" for within rows, "train→test" otherwise."""
    return pair_label(str(row["train_dataset"]), str(row["test_dataset"]))


def best_table(best: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Display version of `best_rows`: method parts, data, seeds and the headline metrics."""
    shown_metrics = [("accuracy", "accuracy"), ("ap", "AP"), ("eer", "EER"), ("tpr_at_5fpr", "TPR@5%FPR")]
    rows = []
    for rank, (_, row) in enumerate(best.iterrows(), start=1):
        cells = {
            "#": str(rank), "approach": row["approach"], "backbone": row["backbone"],
            "transform": row["transform"], "reduction": row["reduction"], "classifier": row["classifier"],
            "dataset": dataset_cell(row), "seeds": str(int(row["n_seeds"])),
            "AUC [low, high]": with_interval(row["auc"], row["auc_low"], row["auc_high"]),
        }
        for column, title in shown_metrics:
            cells[title] = mean_std(row[column], row[f"{column}_std"])
        if metric not in ("auc", "accuracy", "ap", "eer", "tpr_at_5fpr"):
            cells[metric_label(metric)] = mean_std(row[metric], row[f"{metric}_std"])
        rows.append(cells)
    return pd.DataFrame(rows)


def ranking_table(ranking: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Display version of `generalization_ranking`."""
    label = metric_label(metric)
    columns = {
        "unseen_mean": f"unseen {label} (mean)", "unseen_worst": "worst unseen pair",
        "cross_mean": "cross-dataset mean", "logo_mean": "held-out generator mean",
        "lodo_mean": "held-out dataset mean",
        "within_mean": "within-dataset mean", "robustness_mean": "degraded images mean",
    }
    rows = []
    for rank, (_, row) in enumerate(ranking.iterrows(), start=1):
        cells = {"#": str(rank), "method": row["method"], "approach": row["approach"]}
        cells.update({title: number(row[column]) for column, title in columns.items()})
        cells["unseen pairs"] = str(int(row["n_unseen"]))
        rows.append(cells)
    frame = pd.DataFrame(rows)
    return frame.loc[:, [c for c in frame.columns if (frame[c] != MISSING).any()]]


def approach_table(comparison: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (protocol, test set): each approach's best score and the method reaching it."""
    label = metric_label(metric)
    approaches = sorted(set(comparison["approach"]))
    rows = []
    for (protocol, test_dataset), group in comparison.groupby(["protocol", "test_dataset"], sort=False):
        cells = {"protocol": protocol, "test dataset": test_dataset}
        best = group.set_index("approach")
        for approach in approaches:
            found = approach in best.index
            cells[f"{approach}: best {label}"] = number(best.at[approach, "value"]) if found else MISSING
            cells[f"{approach}: method"] = best.at[approach, "method"] if found else MISSING
        rows.append(cells)
    return pd.DataFrame(rows)


def matrix_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """train x test matrix with a first "train \\ test" column, numbers formatted."""
    frame = matrix.map(number)
    frame.insert(0, "train \\ test", [str(name) for name in matrix.index])
    frame.columns = [str(c) for c in frame.columns]
    return frame.reset_index(drop=True)


def held_out_display(scores: pd.DataFrame) -> pd.DataFrame:
    """method x held-out generator (or dataset) table with the ranking mean last."""
    frame = scores.map(number)
    frame.insert(0, "method", [str(name) for name in scores.index])
    frame.columns = [str(c) for c in frame.columns]
    return frame.reset_index(drop=True)


FULL_TABLE_COLUMNS = [*KEY_COLUMNS, *(m.name for m in METRICS), "fit_seconds", "n_test"]
"""Every metric of the schema is shown; of the measurements, fit time and test size."""


def full_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every result row, key columns only, best first within each protocol.

    Formatting column by column (not cell by cell) keeps this fast for thousands of rows.
    """
    ordered = sort_by_metric(table, metric).sort_values("protocol", kind="stable")
    columns = [c for c in FULL_TABLE_COLUMNS if c in ordered.columns]
    if metric not in columns:
        columns.append(metric)
    display = pd.DataFrame(index=ordered.index)
    for column in columns:
        display[metric_label(column)] = format_column(ordered[column], column)
    return display.reset_index(drop=True)


def format_column(values: pd.Series, column: str) -> pd.Series:
    """Strings for one column: metrics with 3 decimals, times with 2, counts as integers."""
    if not pd.api.types.is_numeric_dtype(values) or column == "seed":
        return values.astype(str)
    digits = NUMERIC[column].digits if column in NUMERIC else 3
    if column == "level":
        return values.map(lambda v: MISSING if pd.isna(v) else f"{v:g}")
    return values.map(lambda v: MISSING if pd.isna(v) else f"{v:.{digits}f}")
