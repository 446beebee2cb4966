"""The training history as history.csv and curves.png (loss, validation AUC and accuracy)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from ..runtime import atomic_write_bytes, atomic_write_text

CURVES_EVERY_SECONDS = 60.0
"""Redraw curves.png at most this often during training (matplotlib takes seconds on a busy
CPU, which would dominate tiny runs) and always when training ends."""


def write_history(history: list[dict[str, float]], run_dir: Path) -> None:
    import pandas as pd

    atomic_write_text(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))


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
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(path, buffer.getvalue())
