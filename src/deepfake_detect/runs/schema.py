"""The results table's schema, in one place: columns, metric labels, directions, chance levels.

Every row either approach writes (grid cells, fine-tuning evaluations) has exactly these
columns; the report reads labels and "is higher better?" from here. Adding a metric is one
entry in `METRICS` (and the value in `evaluate.metrics.compute_metrics`): `make_row` refuses a
row with a column the schema does not know, so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """A numeric results column and how to read it."""

    name: str
    label: str
    """Human name in tables and figure axes, e.g. "AUC"."""
    higher_is_better: bool = True
    chance: float | None = None
    """What a coin flip scores; drawn as a reference line where it means something."""
    digits: int = 3
    """Decimals shown in tables."""


METRICS: tuple[Metric, ...] = (
    Metric("accuracy", "accuracy", chance=0.5),
    Metric("real_accuracy", "real accuracy"),
    Metric("fake_accuracy", "fake accuracy"),
    Metric("ap", "AP"),
    Metric("auc", "AUC", chance=0.5),
    Metric("auc_low", "AUC (low)"),
    Metric("auc_high", "AUC (high)"),
    Metric("best_accuracy", "best accuracy", chance=0.5),
    Metric("tpr_at_5fpr", "TPR@5%FPR"),
    Metric("eer", "EER", higher_is_better=False, chance=0.5),
    Metric("n_real", "real test images", digits=0),
    Metric("n_fake", "fake test images", digits=0),
)
"""What `evaluate.metrics.compute_metrics` returns, one entry per key (a test checks both ways)."""

MEASUREMENTS: tuple[Metric, ...] = (
    Metric("fit_seconds", "fit time (s)", higher_is_better=False, digits=2),
    Metric("predict_seconds", "predict time (s)", higher_is_better=False, digits=2),
    Metric("n_train", "train images", digits=0),
    Metric("n_test", "test images", digits=0),
)
"""Numbers the workflow measures around the metrics."""

KEY_COLUMNS: tuple[str, ...] = (
    "cell_id", "approach", "protocol", "train_dataset", "test_dataset", "perturbation", "level",
    "transform", "backbone", "reduction", "classifier", "seed",
)  # fmt: skip
"""What a row is about: the method (approach, backbone, transform, reduction, classifier
labels), the data (protocol, train/test set, perturbation and level) and the split seed."""

METHOD_COLUMNS: tuple[str, ...] = ("approach", "backbone", "transform", "reduction", "classifier")
"""Together these identify a method; each holds a label unique within a run."""

NUMERIC: dict[str, Metric] = {m.name: m for m in METRICS + MEASUREMENTS}
METRIC_NAMES: list[str] = [m.name for m in METRICS]
RESULT_COLUMNS: list[str] = [
    *KEY_COLUMNS[:KEY_COLUMNS.index("seed") + 1],
    *(m.name for m in METRICS if not m.name.startswith("n_")),
    *(m.name for m in MEASUREMENTS),
    *(m.name for m in METRICS if m.name.startswith("n_")),
]
"""The column order of results.csv: keys, score metrics, measurements, class counts."""

NO_PERTURBATION = "none"


def metric(name: str) -> Metric:
    """The schema entry of a numeric column; KeyError for a non-numeric one (a bug)."""
    return NUMERIC[name]


def metric_label(name: str) -> str:
    """Human name of a column, e.g. "auc" -> "AUC"; other names unchanged."""
    return NUMERIC[name].label if name in NUMERIC else name


def higher_is_better(name: str) -> bool:
    return NUMERIC[name].higher_is_better if name in NUMERIC else True


def chance_level(name: str) -> float | None:
    return NUMERIC[name].chance if name in NUMERIC else None


def make_row(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A results row in column order; a missing or unknown column is a bug and raises.

    NaN levels (no perturbation) stay NaN; numpy scalars become plain numbers.
    """
    unknown = sorted(set(fields) - set(RESULT_COLUMNS))
    missing = [c for c in RESULT_COLUMNS if c not in fields]
    if unknown or missing:
        raise KeyError(f"results row does not match runs.schema: unknown {unknown}, missing {missing}")
    return {c: _plain(fields[c]) for c in RESULT_COLUMNS}


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value

