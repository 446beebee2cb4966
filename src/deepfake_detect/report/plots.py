"""The report's figures, drawn with matplotlib's object API (no pyplot, no global backend).

Using `Figure` directly keeps the report thread-safe, leaves no open figures behind and
never needs a display. Every function returns None (or an empty list) when its data is
absent, so callers can skip the figure without special cases.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .scores import RocCurve
from ..runs.schema import chance_level, metric_label
from .tables import CLEAN_PROTOCOLS, lower_is_better

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
CATEGORY_COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
MISSING_COLOR = "#e4e4e4"
STYLE = {
    "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "figure.titlesize": 13,
    "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.fontsize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": False,
    "axes.prop_cycle": cycler(color=CATEGORY_COLORS), "savefig.dpi": 110, "figure.dpi": 100,
}
PERTURBATION_AXES = {  # label, whether to invert so severity grows to the right
    "jpeg": ("JPEG quality", True),
    "blur": ("Gaussian blur σ", False),
    "downscale": ("downscale factor", True),
}


@dataclass(frozen=True)
class FigureResult:
    """A saved figure and the words that go with it in the report."""

    path: Path
    title: str
    caption: str


def slug(name: str) -> str:
    """File-name-safe version of a user-provided name (reduction names end up in file names)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "unnamed"


def colormap(metric: str) -> matplotlib.colors.Colormap:
    """Perceptually uniform viridis, reversed for lower-is-better metrics so bright always means good."""
    return matplotlib.colormaps["viridis_r" if lower_is_better(metric) else "viridis"]


def number_format(values: np.ndarray) -> str:
    """Three decimals for scores in [0, 1]; three significant digits otherwise (times, counts)."""
    finite = values[np.isfinite(values)]
    return "{:.3f}" if finite.size and finite.min() >= 0 and finite.max() <= 1 else "{:.3g}"


def shared_norm(matrices: list[pd.DataFrame]) -> Normalize:
    """One colour scale for several heatmaps so equal colours mean equal values."""
    values = np.concatenate([m.to_numpy(dtype=float).ravel() for m in matrices])
    values = values[np.isfinite(values)]
    low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.01, high + 0.01
    return Normalize(low, high)


def save(figure: Figure, out_dir: Path, name: str) -> Path:
    """Write a PNG with tight margins into the figures folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    figure.savefig(path, facecolor="white")
    return path


def draw_heatmap(ax: Axes, matrix: pd.DataFrame, norm: Normalize, metric: str,
                 outline_diagonal: bool = False):
    """Annotated heatmap on `ax`; missing cells grey with a dash.

    Either the train == test cells are outlined (generalization matrices, where the best
    cell is usually just the in-distribution one) or the best cell is set in bold.
    """
    values = matrix.to_numpy(dtype=float)
    cmap = colormap(metric).with_extremes(bad=MISSING_COLOR)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    fmt = number_format(values)
    best = None if outline_diagonal else best_index(values, metric)
    for (row, col), value in np.ndenumerate(values):
        ax.text(col, row, "–" if not np.isfinite(value) else fmt.format(value),
                ha="center", va="center", fontsize=9.5, color=text_color(cmap, norm, value),
                fontweight="bold" if (row, col) == best else "normal")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in matrix.columns], rotation=30, ha="right")
    ax.set_yticks(range(values.shape[0]), [str(i) for i in matrix.index])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if outline_diagonal:
        outline_matching_cells(ax, matrix)
    return image


def best_index(values: np.ndarray, metric: str) -> tuple[int, int] | None:
    """Position of the best finite value, for highlighting."""
    if not np.isfinite(values).any():
        return None
    flat = np.where(np.isfinite(values), values, np.inf if lower_is_better(metric) else -np.inf)
    pick = np.argmin(flat) if lower_is_better(metric) else np.argmax(flat)
    return tuple(int(i) for i in np.unravel_index(pick, values.shape))


def text_color(cmap, norm: Normalize, value: float) -> str:
    """Black on light cells, white on dark ones (relative luminance of the cell colour)."""
    if not np.isfinite(value):
        return "#555555"
    red, green, blue, _ = cmap(norm(value))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def outline_matching_cells(ax: Axes, matrix: pd.DataFrame) -> None:
    """Box the cells where train == test, i.e. the in-distribution reference."""
    for row, train in enumerate(matrix.index):
        for col, test in enumerate(matrix.columns):
            if train == test:
                ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False,
                                       edgecolor="#d62728", linewidth=2))


def heatmap_figures(tables: dict[tuple[str, str], pd.DataFrame], metric: str, out_dir: Path,
                    n_datasets: int) -> list[FigureResult]:
    """One figure per reduction; its panels are the transforms, each classifier x backbone."""
    if not tables:
        return []
    norm = shared_norm(list(tables.values()))
    results = []
    for reduction in none_first({reduction for reduction, _ in tables}):
        panels = {transform: m for (red, transform), m in tables.items() if red == reduction}
        with matplotlib.rc_context(STYLE):
            figure = heatmap_grid(panels, norm, metric, f"reduction: {reduction}")
            path = save(figure, out_dir, f"heatmap_{slug(reduction)}.png")
        label = metric_label(metric)
        results.append(FigureResult(path, f"{label}: classifier × backbone, reduction “{reduction}”", (
            f"Mean {label} of every classifier (rows) × backbone (columns) with reduction "
            f"“{reduction}”, one panel per training transform. Within-dataset protocol, unperturbed "
            f"test images, averaged over seeds and {n_datasets} dataset(s). Brighter is better; "
            f"all heatmaps share one colour scale; the best cell of each panel is in bold.")))
    return results


def none_first(names) -> list[str]:
    """Sorted names with the "none" baseline first, so panels read baseline -> variants."""
    return sorted(names, key=lambda name: (name != "none", name))


def heatmap_grid(panels: dict[str, pd.DataFrame], norm: Normalize, metric: str, title: str) -> Figure:
    """Lay out heatmap panels in a grid no wider than a page, with one shared colour bar."""
    n_rows = max(m.shape[0] for m in panels.values())
    n_cols = max(m.shape[1] for m in panels.values())
    panel_width, panel_height = 1.6 + 0.8 * n_cols, 1.2 + 0.45 * n_rows
    columns = max(1, min(len(panels), int(13 // panel_width)))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(panel_width * columns + 1.2, panel_height * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    image = None
    for ax, transform in zip(axes.flat, none_first(panels)):
        matrix = panels[transform]
        image = draw_heatmap(ax, matrix, norm, metric)
        ax.set_title(f"transform: {transform}")
        ax.set_xlabel("backbone")
        ax.set_ylabel("classifier")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label=metric_label(metric))
    figure.suptitle(title)
    return figure


def generalization_figure(matrices: list[tuple[str, pd.DataFrame]], metric: str,
                          out_dir: Path) -> FigureResult | None:
    """train (rows) x test (columns) matrices side by side, diagonal outlined."""
    if not matrices:
        return None
    size = max(max(m.shape) for _, m in matrices)
    side = 1.8 + 0.9 * size
    norm = shared_norm([m for _, m in matrices])
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(side * len(matrices) + 1.2, side), layout="constrained")
        axes = figure.subplots(1, len(matrices), squeeze=False)[0]
        for ax, (title, matrix) in zip(axes, matrices):
            image = draw_heatmap(ax, matrix, norm, metric, outline_diagonal=True)
            ax.set_title(wrap(title, 45), fontsize=10.5)
            ax.set_xlabel("test dataset")
            ax.set_ylabel("train dataset")
        figure.colorbar(image, ax=list(axes), shrink=0.8, label=metric_label(metric))
        path = save(figure, out_dir, "generalization_matrix.png")
    label = metric_label(metric)
    return FigureResult(path, f"Cross-dataset generalization ({label})", (
        f"{label} when training on the row's dataset and testing on the column's, for the method "
        "with the best mean off-diagonal score (one panel per approach when both were evaluated). "
        "Cross-dataset protocol on unperturbed images, averaged over seeds; the outlined diagonal "
        "is the in-distribution reference (within-dataset rows when the cross protocol lacks it); "
        "grey cells were not evaluated."))


def wrap(text: str, width: int) -> str:
    """Break a long method name onto lines at its " / " separators."""
    lines, line = [], ""
    for part in text.split(" / "):
        candidate = f"{line} / {part}" if line else part
        if len(candidate) > width and line:
            lines.append(line + " /")
            line = part
        else:
            line = candidate
    return "\n".join(lines + [line])


def roc_figure(panels: list[tuple[str, list[RocCurve]]], out_dir: Path) -> FigureResult | None:
    """ROC curves of the best cells per protocol, AUC in the legend, 5% FPR marked."""
    panels = [(title, curves) for title, curves in panels if curves]
    if not panels:
        return None
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(5.8 * len(panels), 6.0), layout="constrained")
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (title, curves) in zip(axes, panels):
            draw_roc_panel(ax, title, curves)
        path = save(figure, out_dir, "roc_curves.png")
    names = " and ".join(title for title, _ in panels)
    return FigureResult(path, "ROC curves of the best cells", (
        f"ROC curves ({names}) of the best cells by the report metric that have saved scores, "
        "one cell per method, unperturbed test images; legend AUC is computed from the saved "
        "scores; the dotted line marks 5% false-positive rate, the dashed diagonal is chance."))


def draw_roc_panel(ax: Axes, title: str, curves: list[RocCurve]) -> None:
    """One protocol's ROC curves on a square, labelled axes."""
    for curve in curves:
        ax.step(curve.false_positive_rate, curve.true_positive_rate, where="post", linewidth=1.8,
                label=f"{curve.label}\nAUC = {curve.auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1)
    ax.axvline(0.05, linestyle=":", color="#555555", linewidth=1)
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal", title=title,
           xlabel="false positive rate (real called fake)", ylabel="true positive rate (fakes caught)")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.92)


def robustness_figure(curves: pd.DataFrame, metric: str, out_dir: Path) -> FigureResult | None:
    """Metric vs perturbation level, one panel per perturbation, one line per method."""
    if curves.empty:
        return None
    known = [p for p in PERTURBATION_AXES if p in set(curves["perturbation"])]
    perturbations = known + sorted(set(curves["perturbation"]) - set(known))
    methods = list(dict.fromkeys(curves["method"]))
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(4.6 * len(perturbations) + 0.6, 4.6), layout="constrained")
        axes = figure.subplots(1, len(perturbations), squeeze=False, sharey=True)[0]
        for ax, perturbation in zip(axes, perturbations):
            draw_robustness_panel(ax, curves[curves["perturbation"] == perturbation], perturbation, methods)
        axes[0].set_ylabel(metric_label(metric))
        add_chance_line(axes, metric)
        handles, labels = axes[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=min(2, len(methods)), frameon=False)
        path = save(figure, out_dir, "robustness.png")
    label = metric_label(metric)
    return FigureResult(path, f"Robustness to image degradations ({label})", (
        f"{label} as test images are degraded (robustness protocol), for the {len(methods)} "
        "method(s) with the best mean score over all degraded images; severity grows to the right "
        "(JPEG quality falls from 100, blur σ rises, downscale factor falls from 1). Points are "
        "averaged over seeds and test sets; the unperturbed point is the clean reference."))


def draw_robustness_panel(ax: Axes, rows: pd.DataFrame, perturbation: str, methods: list[str]) -> None:
    """Lines of one perturbation; colours follow the global method order so panels agree."""
    for index, method in enumerate(methods):
        line = rows[rows["method"] == method].sort_values("level")
        if len(line):
            ax.plot(line["level"], line["value"], marker="o", markersize=4, linewidth=1.8,
                    color=CATEGORY_COLORS[index % len(CATEGORY_COLORS)], label=method)
    axis_label, invert = PERTURBATION_AXES.get(perturbation, (f"{perturbation} level", False))
    ax.set_xlabel(axis_label)
    ax.set_title(perturbation)
    ax.grid(True, alpha=0.3)
    if invert:
        ax.invert_xaxis()
    ax.yaxis.set_tick_params(labelleft=True)


def add_chance_line(axes, metric: str) -> None:
    """Dashed grey line at the score of random guessing, where that is well defined."""
    chance = chance_level(metric)
    if chance is not None:
        for ax in axes:
            ax.axhline(chance, linestyle="--", color="#999999", linewidth=1)


def grouped_bars(ax: Axes, table: pd.DataFrame, group_column: str, bar_column: str,
                 bar_order: list[str], colors: dict[str, str]) -> None:
    """Bars grouped by `group_column` (x axis), one colour per `bar_column` value, values on top."""
    groups = sorted(set(table[group_column]))
    width = 0.8 / max(1, len(bar_order))
    for index, bar in enumerate(bar_order):
        subset = table[table[bar_column] == bar].set_index(group_column)["value"]
        heights = [subset.get(group, np.nan) for group in groups]
        positions = np.arange(len(groups)) + (index - (len(bar_order) - 1) / 2) * width
        bars = ax.bar(positions, heights, width * 0.92, color=colors[bar], label=bar)
        ax.bar_label(bars, labels=["" if not np.isfinite(h) else f"{h:.3f}" for h in heights],
                     fontsize=8.5, padding=2, rotation=90 if len(bar_order) > 3 else 0)
    ax.set_xticks(range(len(groups)), groups, rotation=20 if len(groups) > 4 else 0,
                  ha="right" if len(groups) > 4 else "center")


def bounded_ylim(ax: Axes, values: pd.Series) -> None:
    """Scores in [0, 1] get the full scale with room for value labels above the bars."""
    if values.dropna().between(0, 1).all():
        ax.set_ylim(0, 1.15)


def approach_figure(comparison: pd.DataFrame, metric: str, out_dir: Path) -> FigureResult | None:
    """Best score per approach (features vs fine-tuned) and test set, one panel per protocol."""
    if comparison.empty:
        return None
    protocols = [p for p in CLEAN_PROTOCOLS if p in set(comparison["protocol"])]
    approaches = sorted(set(comparison["approach"]))
    colors = {a: CATEGORY_COLORS[i] for i, a in enumerate(approaches)}
    widths = [max(2, comparison[comparison["protocol"] == p]["test_dataset"].nunique()) for p in protocols]
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(1.1 * sum(widths) + 1.2 * len(protocols) + 1, 4.6), layout="constrained")
        axes = figure.subplots(1, len(protocols), squeeze=False, sharey=True, width_ratios=widths)[0]
        for ax, protocol in zip(axes, protocols):
            grouped_bars(ax, comparison[comparison["protocol"] == protocol], "test_dataset",
                         "approach", approaches, colors)
            ax.set_title(PROTOCOL_TITLES.get(protocol, protocol))
            ax.set_xlabel("test dataset")
            ax.yaxis.set_tick_params(labelleft=True)
        axes[0].set_ylabel(f"best {metric_label(metric)}")
        bounded_ylim(axes[0], comparison["value"])
        add_chance_line(axes, metric)
        figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
                      ncols=len(approaches), frameon=False)
        path = save(figure, out_dir, "approaches.png")
    label = metric_label(metric)
    return FigureResult(path, f"Feature-based vs fine-tuned ({label})", (
        f"Best {label} reached by any method of each approach on each test set, per protocol "
        "(cross-dataset: best over training sets other than the test set; leave-one-generator-out: "
        "the test set is the held-out generator; leave-one-dataset-out: the test set is the dataset "
        "held out, trained on all the others). Unperturbed images, averaged over seeds."))


PROTOCOL_TITLES = {"within": "within-dataset", "cross": "cross-dataset", "logo": "leave-one-generator-out",
                   "lodo": "leave-one-dataset-out"}
HELD_OUT_UNITS = {"logo": "generator", "lodo": "dataset"}
"""What each held-out protocol (tables.HELD_OUT_PROTOCOLS) leaves out of training in turn."""


def held_out_figure(scores: pd.DataFrame, metric: str, out_dir: Path, protocol: str = "logo") -> FigureResult | None:
    """A held-out protocol (`tables.held_out_table`): score on each held-out test set for the best few methods."""
    if scores.empty:
        return None
    unit = HELD_OUT_UNITS[protocol]
    long = scores.drop(columns="mean").reset_index().melt(id_vars="method", var_name="test_dataset", value_name="value")
    methods = list(scores.index)
    colors = {m: CATEGORY_COLORS[i % len(CATEGORY_COLORS)] for i, m in enumerate(methods)}
    n_held_out = long["test_dataset"].nunique()
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(max(7.0, 0.45 * len(methods) * n_held_out + 2.5), 5.0), layout="constrained")
        ax = figure.subplots()
        grouped_bars(ax, long, "test_dataset", "method", methods, colors)
        ax.set(xlabel=f"held-out {unit} (not seen in training)", ylabel=metric_label(metric))
        bounded_ylim(ax, long["value"])
        add_chance_line([ax], metric)
        figure.legend(loc="outside lower center", ncols=min(2, len(methods)), frameon=False)
        path = save(figure, out_dir, f"{protocol}.png")
    label = metric_label(metric)
    return FigureResult(path, f"{PROTOCOL_TITLES[protocol].capitalize()} ({label})", (
        f"{label} on each {unit} held out from training, for the {len(methods)} method(s) "
        f"with the best mean over held-out {unit}s. Unperturbed images, averaged over seeds."))


def few_shot_figure(curves: pd.DataFrame, metric: str, out_dir: Path) -> FigureResult | None:
    """Metric on a held-out generator against k, the number of its images the detector was adapted on."""
    if curves.empty:
        return None
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(6.0, 4.4), layout="constrained")
        ax = figure.subplots()
        for index, (test, line) in enumerate(curves.groupby("test_dataset", sort=True)):
            color = CATEGORY_COLORS[index % len(CATEGORY_COLORS)]
            x = line["k"].to_numpy(dtype=float)
            ax.plot(x, line["value"], marker="o", markersize=4, linewidth=1.8, color=color, label=test)
            ax.fill_between(x, line["low"], line["high"], color=color, alpha=0.15, linewidth=0)
        ax.set_xscale("symlog", linthresh=1)
        ks = sorted(set(curves["k"].astype(int)))
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("k, images of the new generator (0: original)")
        ax.set_ylabel(metric_label(metric))
        ax.grid(True, alpha=0.3)
        add_chance_line([ax], metric)
        ax.legend(title="test set", frameon=False)
        path = save(figure, out_dir, "few_shot.png")
    label = metric_label(metric)
    return FigureResult(path, f"Few-shot adaptation ({label} against k)", (
        f"{label} on the held-out generator's test images (minus those adapted on) after adapting the detector "
        "with k of its images (and k reals when given); shaded: the bootstrap interval. Each k starts from "
        "the original detector; the first k of one seeded shuffle, so larger k sees a superset."))
