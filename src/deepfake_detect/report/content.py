"""Decide what the report says: sections of text, display tables and figures.

Both renderers (HTML and Markdown) walk the same `Report`, so this is the one place
where "which tables, which figures, in which order, with which words" is decided.
Sections whose data is absent are left out instead of showing empty plots.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import format as fmt
from . import plots, tables
from .plots import FigureResult
from .scores import available_score_ids, best_roc_curves
from ..runs.folder import CONFIG_FILE, FIGURES_DIR, RUN_INFO_FILE
from ..runs.schema import metric_label

# Figures this module writes; removed before each run so a figures/ folder never mixes runs.
OWN_FIGURE_PATTERNS = ["heatmap_*.png", "generalization_matrix.png", "roc_curves.png",
                       "robustness.png", "approaches.png", "logo.png", "lodo.png", "few_shot.png"]


@dataclass
class Table:
    """A display table (string cells) with a caption saying what it shows."""

    caption: str
    frame: pd.DataFrame


@dataclass
class Section:
    """One titled part of the report; renderers show paragraphs, tables, figures, then text."""

    anchor: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureResult] = field(default_factory=list)
    preformatted: list[tuple[str, str]] = field(default_factory=list)  # (caption, verbatim text)
    collapsed: bool = False   # HTML shows it inside <details>
    html_only: bool = False   # too big for the Markdown summary


@dataclass
class Report:
    """Everything both renderers need."""

    title: str
    metric: str
    generated: str
    summary: dict[str, str]
    findings: list[tuple[str, str]]
    sections: list[Section]
    notice: str | None = None  # a caveat shown first (the demo's "toy data")


def build_report(run_dir: Path, metric: str = "auc") -> Report:
    """Load the run, draw the figures into RUN_DIR/figures and assemble the report content."""
    run_dir = Path(run_dir)
    table = tables.load_results(run_dir)
    tables.check_metric(table, metric)
    figures_dir = run_dir / FIGURES_DIR
    remove_own_figures(figures_dir)
    summary = tables.run_summary(table)
    summary["Score files"] = f"{len(available_score_ids(run_dir) & set(table['cell_id'])):,}"
    summary["Ranking metric"] = metric_label(metric)
    ranking = tables.generalization_ranking(table, metric)
    sections = [
        best_section(table, metric),
        generalization_section(table, ranking, metric, figures_dir),
        *(held_out_section(table, metric, figures_dir, protocol) for protocol in tables.HELD_OUT_PROTOCOLS),
        heatmap_section(table, metric, figures_dir),
        roc_section(table, run_dir, metric, figures_dir),
        robustness_section(table, metric, figures_dir),
        approach_section(table, metric, figures_dir),
        reference_section(table, metric),
        few_shot_section(table, metric, figures_dir),
        configuration_section(run_dir),
        full_results_section(table, metric),
    ]
    return Report(
        title=f"Deepfake detection report — {run_dir.resolve().name}",
        metric=metric,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        summary=summary,
        findings=key_findings(table, ranking, metric),
        sections=[section for section in sections if section is not None],
        notice=run_notice(run_dir),
    )


def run_notice(run_dir: Path) -> str | None:
    """The `notice` of the run's config.yaml (e.g. the demo's "toy data"), if it has one."""
    import yaml

    path = run_dir / CONFIG_FILE
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (yaml.YAMLError, UnicodeDecodeError):
        return None  # the configuration section shows the file as it is
    notice = config.get("notice") if isinstance(config, dict) else None
    return str(notice) if notice else None


def remove_own_figures(figures_dir: Path) -> None:
    """Delete figures a previous report wrote, so skipped figures do not linger."""
    for pattern in OWN_FIGURE_PATTERNS:
        for path in figures_dir.glob(pattern):
            path.unlink(missing_ok=True)


def key_findings(table: pd.DataFrame, ranking: pd.DataFrame, metric: str) -> list[tuple[str, str]]:
    """The answers in one line each: best detector, best on unseen data, most robust."""
    label = metric_label(metric)
    findings = []
    best = tables.best_rows(table, metric, n=1)
    if len(best):
        row = best.iloc[0]
        findings.append(("Best within-dataset detector", (
            f"{row['method']} on {fmt.dataset_cell(row)}: {label} "
            f"{fmt.mean_std(row[metric], row[f'{metric}_std'])} ({int(row['n_seeds'])} seed(s))")))
    if len(ranking):
        row = ranking.iloc[0]
        findings.append(("Best on unseen data", (
            f"{row['method']}: mean {label} {fmt.number(row['unseen_mean'])} over "
            f"{int(row['n_unseen'])} cross-dataset / held-out generator or dataset test(s), "
            f"worst {fmt.number(row['unseen_worst'])}")))
    robust = tables.method_means(tables.perturbed_rows(table), metric)
    if len(robust.dropna()):
        robust = robust.dropna().sort_values(ascending=tables.lower_is_better(metric))
        method, _ = robust.index[0]
        findings.append(("Most robust to degradations",
                         f"{method}: mean {label} {fmt.number(robust.iloc[0])} over all degraded test images"))
    return findings


def best_section(table: pd.DataFrame, metric: str) -> Section:
    """Top combinations on the within protocol (always shown, with a note when empty)."""
    section = Section("best", "Best combinations")
    best = tables.best_rows(table, metric, n=10)
    if best.empty:
        section.paragraphs.append("This run has no within-dataset results on unperturbed images.")
        return section
    section.paragraphs.append(
        f"Top {len(best)} (method, dataset) combinations by {metric_label(metric)}, within-dataset "
        "protocol, unperturbed test images; values are mean ± standard deviation over seeds, "
        "AUC with its confidence interval [low, high].")
    section.tables.append(Table(f"Best combinations by {metric_label(metric)} (within-dataset)",
                                fmt.best_table(best, metric)))
    return section


def generalization_section(table: pd.DataFrame, ranking: pd.DataFrame, metric: str,
                           figures_dir: Path) -> Section | None:
    """Which methods still work on data they were not trained on: ranking, matrices, figure."""
    if ranking.empty:
        return None
    label = metric_label(metric)
    section = Section("generalization", "Generalization to unseen data", paragraphs=[
        f"Methods ranked by mean {label} on data they were not trained on: cross-dataset pairs "
        "(train ≠ test), leave-one-generator-out and leave-one-dataset-out tests, each averaged over seeds. "
        "“Worst unseen pair” tells whether a method still works everywhere, not only on average."])
    section.tables.append(Table(f"Best methods on unseen data ({label})", fmt.ranking_table(ranking, metric)))
    matrices = generalization_matrices(table, metric)
    for title, matrix in matrices:
        section.tables.append(Table(f"Generalization matrix ({label}, rows = train, columns = test): {title}",
                                    fmt.matrix_table(matrix)))
    figure = plots.generalization_figure(matrices, metric, figures_dir)
    section.figures += [figure] if figure else []
    return section


def generalization_matrices(table: pd.DataFrame, metric: str) -> list[tuple[str, pd.DataFrame]]:
    """Matrices of the best cross-dataset method, one per approach when both have cross results."""
    pairs = tables.train_test_scores(table, metric)
    datasets = tables.datasets_in(pairs) if len(pairs) else []
    if len(datasets) < 2:
        return []
    per_approach = [(a, tables.best_cross_method(pairs, metric, a)) for a in sorted(set(pairs["approach"]))]
    per_approach = [(a, m) for a, m in per_approach if m is not None]
    if len(per_approach) < 2:
        best = tables.best_cross_method(pairs, metric)
        per_approach = [("best overall", best)] if best else []
    # Each matrix spans only its own method's datasets, so a fine-tuned net run on fewer
    # datasets is not drawn as a mostly grey rectangle.
    return [(f"{name}: {method}",
             tables.generalization_matrix(pairs, method, tables.datasets_in(pairs[pairs["method"] == method])))
            for name, method in per_approach]


HELD_OUT_NOTES = {"lodo": ", the model trained on all the other datasets pooled (training set “all-but-DATASET” "
                           "in the results)"}
"""What a held-out protocol's section adds to the sentence saying what its columns are."""


def held_out_section(table: pd.DataFrame, metric: str, figures_dir: Path, protocol: str = "logo") -> Section | None:
    """A held-out protocol: each generator (logo) or dataset (lodo) held out of training in turn."""
    scores = tables.held_out_table(table, metric, protocol)
    if scores.empty:
        return None
    label, unit = metric_label(metric), plots.HELD_OUT_UNITS[protocol]
    section = Section(protocol, plots.PROTOCOL_TITLES[protocol].capitalize(), paragraphs=[
        f"Each column is a {unit} left out of training and used as the test set{HELD_OUT_NOTES.get(protocol, '')}; "
        f"{label} averaged over seeds; methods ranked by their mean over held-out {unit}s."])
    section.tables.append(Table(f"{label} on held-out {unit}s", fmt.held_out_display(scores)))
    figure = plots.held_out_figure(scores, metric, figures_dir, protocol)
    section.figures += [figure] if figure else []
    return section


def heatmap_section(table: pd.DataFrame, metric: str, figures_dir: Path) -> Section | None:
    """Classifier x backbone heatmaps per (reduction, transform)."""
    heatmaps = tables.heatmap_tables(table, metric)
    n_datasets = tables.clean_rows(table, "within")["test_dataset"].nunique()
    figures = plots.heatmap_figures(heatmaps, metric, figures_dir, n_datasets)
    if not figures:
        return None
    return Section("heatmaps", "Backbone × classifier", figures=figures, paragraphs=[
        "How each part of a feature-based pipeline matters: one heatmap per dimensionality "
        "reduction, one panel per training transform."])


def roc_section(table: pd.DataFrame, run_dir: Path, metric: str, figures_dir: Path) -> Section | None:
    """ROC curves of the best cells with saved scores (within and, if present, cross)."""
    panels = [(title, best_roc_curves(table, run_dir, metric, protocol))
              for protocol, title in (("within", "within-dataset"), ("cross", "cross-dataset (train ≠ test)"))]
    figure = plots.roc_figure(panels, figures_dir)
    return Section("roc", "ROC curves", figures=[figure]) if figure else None


def robustness_section(table: pd.DataFrame, metric: str, figures_dir: Path) -> Section | None:
    """Metric vs JPEG quality, blur and downscaling."""
    figure = plots.robustness_figure(tables.robustness_curves(table, metric), metric, figures_dir)
    return Section("robustness", "Robustness to degradations", figures=[figure]) if figure else None


def approach_section(table: pd.DataFrame, metric: str, figures_dir: Path) -> Section | None:
    """Feature-based pipelines vs fine-tuned networks, when both were run."""
    comparison = tables.approach_comparison(table, metric)
    figure = plots.approach_figure(comparison, metric, figures_dir)
    if figure is None:
        return None
    section = Section("approaches", "Feature-based vs fine-tuned", figures=[figure])
    section.tables.append(Table("Best method per approach, protocol and test set",
                                fmt.approach_table(comparison, metric)))
    return section


def reference_section(table: pd.DataFrame, metric: str) -> Section | None:
    """Published reference detectors beside the project's best method on the same test images."""
    comparison = tables.reference_comparison(table, metric)
    if comparison.empty:
        return None
    frame = comparison.rename(columns={"test_dataset": "test set", "value": metric_label(metric)})
    frame[metric_label(metric)] = frame[metric_label(metric)].map(fmt.number)
    return Section("reference", "Published reference detectors", paragraphs=[
        "A published detector, run unchanged (its own preprocessing and threshold) on the same test images "
        "as the project's methods; the project's row is its best method on that test set."],
        tables=[Table("Reference detectors and the project's best method per test set", frame)])


def few_shot_section(table: pd.DataFrame, metric: str, figures_dir: Path) -> Section | None:
    """AUC on a new generator against the number of its images used to adapt the detector."""
    curves = tables.few_shot_curves(table, metric)
    figure = plots.few_shot_figure(curves, metric, figures_dir)
    if figure is None:
        return None
    frame = curves.rename(columns={"test_dataset": "test set", "value": metric_label(metric)})
    for column in (metric_label(metric), "low", "high"):
        frame[column] = frame[column].map(fmt.number)
    frame["k"] = frame["k"].astype(int)
    frame["n_test"] = frame["n_test"].astype(int)
    return Section("few-shot", "Few-shot adaptation", figures=[figure],
                   tables=[Table("Metric against k (mean over seeds; interval: bootstrap)", frame)])


def configuration_section(run_dir: Path) -> Section | None:
    """config.yaml verbatim and run.json as a key/value table, so the run can be reproduced."""
    config_path, info_path = run_dir / CONFIG_FILE, run_dir / RUN_INFO_FILE
    if not config_path.is_file() and not info_path.is_file():
        return None
    section = Section("configuration", "Run configuration")
    if info_path.is_file():
        run_info = read_run_info(info_path)
        if isinstance(run_info, str):
            section.preformatted.append((f"{RUN_INFO_FILE} (not valid JSON, shown as text)", run_info))
        else:
            section.tables.append(Table(RUN_INFO_FILE, run_info))
    if config_path.is_file():
        section.preformatted.append((CONFIG_FILE, config_path.read_text(encoding="utf-8", errors="replace")))
    return section


def read_run_info(path: Path) -> pd.DataFrame | str:
    """run.json flattened to dotted keys; the raw text if it is not valid JSON."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    flat = flatten(data) if isinstance(data, dict) else {"value": data}
    return pd.DataFrame({"key": list(flat), "value": [json_text(v) for v in flat.values()]})


def flatten(data: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay whole."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def json_text(value) -> str:
    """Strings as they are, everything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def full_results_section(table: pd.DataFrame, metric: str) -> Section:
    """Every row, collapsed by default (HTML only: too long for a Markdown summary)."""
    return Section("results", f"All results ({len(table):,} rows)", collapsed=True, html_only=True,
                   tables=[Table("All result rows, best first within each protocol", fmt.full_table(table, metric))])
