"""The report on synthetic but realistic run folders: real files in, real files out, no mocks.

The synthetic run is built so its answers are known: "clip_vitb16 / none / none / svm_rbf"
is the best within-dataset detector and "clip_vitb16 / blur+jitter / pca / linear_probe"
generalizes best across datasets, so the tests can check the report says so.
"""

from __future__ import annotations

import base64
import io
import json
import re
import html
import shutil
from itertools import product
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfake_detect.errors import UnknownNameError
from deepfake_detect.report import best_rows, write_report
from deepfake_detect.report.content import OWN_FIGURE_PATTERNS
from deepfake_detect.runs.schema import METRICS, NUMERIC, higher_is_better
from deepfake_detect.report.scores import roc_curve

DATASETS = ["progan", "stylegan2", "sd14"]
BACKBONES = ["clip_vitb16", "dinov2_vits14", "resnet50_in1k"]
CLASSIFIERS = ["svm_rbf", "knn1", "linear_probe"]
REDUCTIONS = ["none", "pca"]
TRANSFORMS = ["none", "blur+jitter"]
BEST_WITHIN = ("clip_vitb16", "none", "none", "svm_rbf")
BEST_CROSS = ("clip_vitb16", "blur+jitter", "pca", "linear_probe")
ROBUSTNESS_LEVELS = {"jpeg": [100, 90, 70, 50, 30], "blur": [0, 1, 2, 4], "downscale": [1.0, 0.75, 0.5]}
EXPECTED_FIGURES = [name for pattern in OWN_FIGURE_PATTERNS if pattern != "few_shot.png"  # no adapt curve here
                    for name in ([pattern.replace("*", r) for r in REDUCTIONS] if "*" in pattern else [pattern])]
"""Every figure the report draws (its own list), one heatmap per reduction of the run."""


def method_quality(backbone: str, transform: str, reduction: str, classifier: str) -> tuple[float, float]:
    """(within AUC, cross AUC) of a feature method, with the two known winners on top."""
    base = {"clip_vitb16": 0.93, "dinov2_vits14": 0.9, "resnet50_in1k": 0.85}.get(backbone, 0.8)
    base += {"svm_rbf": 0.02, "linear_probe": 0.01}.get(classifier, 0.0) - 0.01 * (reduction != "none")
    cross = base - 0.2 + 0.04 * (transform != "none")
    if (backbone, transform, reduction, classifier) == BEST_WITHIN:
        base = 0.985
    if (backbone, transform, reduction, classifier) == BEST_CROSS:
        cross = 0.9
    return min(base, 0.99), cross


def result_row(rng: np.random.Generator, auc: float, **keys) -> dict:
    """One results.csv row with metrics consistent with the given AUC."""
    auc = float(np.clip(auc + rng.normal(0, 0.004), 0.5, 0.999))
    accuracy = 0.5 + (auc - 0.5) * 0.9
    row = {"accuracy": accuracy, "real_accuracy": accuracy + 0.02, "fake_accuracy": accuracy - 0.02,
           "ap": auc - 0.01, "auc": auc, "auc_low": auc - 0.015, "auc_high": min(auc + 0.015, 1.0),
           "best_accuracy": accuracy + 0.01, "tpr_at_5fpr": max(0.0, 2 * auc - 1.1), "eer": 1 - accuracy,
           "fit_seconds": float(rng.uniform(0.5, 30)), "predict_seconds": float(rng.uniform(0.1, 2)),
           "n_train": 2000, "n_test": 500, "perturbation": "none", "level": np.nan, "seed": 0}
    row.update(keys)
    return row


def feature_rows(rng: np.random.Generator, methods, datasets: list[str], seeds: list[int],
                 cross: bool) -> list[dict]:
    """Within rows for every seed, and optionally cross, leave-one-generator-out and -dataset-out rows."""
    rows = []
    for backbone, transform, reduction, classifier in methods:
        within_auc, cross_auc = method_quality(backbone, transform, reduction, classifier)
        keys = dict(approach="features", backbone=backbone, transform=transform,
                    reduction=reduction, classifier=classifier)
        for dataset, seed in product(datasets, seeds):
            rows.append(result_row(rng, within_auc, protocol="within", train_dataset=dataset,
                                   test_dataset=dataset, seed=seed, **keys))
        if cross:
            for train, test in product(datasets, datasets):
                if train != test:
                    rows.append(result_row(rng, cross_auc, protocol="cross", train_dataset=train,
                                           test_dataset=test, **keys))
            for held_out, (protocol, gain) in product(datasets, (("logo", 0.03), ("lodo", 0.05))):
                rows.append(result_row(rng, cross_auc + gain, protocol=protocol,
                                       train_dataset=f"all-but-{held_out}", test_dataset=held_out, **keys))
    return rows


def finetune_rows(rng: np.random.Generator) -> list[dict]:
    """A fine-tuned ResNet-50: strong within, weaker across datasets."""
    keys = dict(approach="finetune", backbone="resnet50", transform="none", reduction="none", classifier="finetune")
    rows = [result_row(rng, 0.97, protocol="within", train_dataset=d, test_dataset=d, **keys) for d in DATASETS]
    rows += [result_row(rng, 0.72, protocol="cross", train_dataset=a, test_dataset=b, **keys)
             for a, b in product(DATASETS, DATASETS) if a != b]
    rows += [result_row(rng, 0.75, protocol=protocol, train_dataset=f"all-but-{d}", test_dataset=d, **keys)
             for d, protocol in product(DATASETS, ("logo", "lodo"))]
    return rows


def robustness_rows(rng: np.random.Generator) -> list[dict]:
    """Three methods under JPEG, blur and downscaling of progan test images; quality falls with severity."""
    rows = []
    chosen = [BEST_WITHIN, BEST_CROSS, ("resnet50_in1k", "none", "none", "knn1")]
    for backbone, transform, reduction, classifier in chosen:
        clean_auc, _ = method_quality(backbone, transform, reduction, classifier)
        keys = dict(approach="features", backbone=backbone, transform=transform, reduction=reduction,
                    classifier=classifier, protocol="robustness", train_dataset="progan", test_dataset="progan")
        for perturbation, levels in ROBUSTNESS_LEVELS.items():
            for index, level in enumerate(levels):
                drop = index * (0.04 if transform == "none" else 0.015)
                rows.append(result_row(rng, clean_auc - drop, perturbation=perturbation, level=level, **keys))
    return rows


def write_scores(run_dir: Path, rows: pd.DataFrame, rng: np.random.Generator) -> None:
    """Score files whose class separation matches each row's AUC."""
    folder = run_dir / "scores"
    folder.mkdir(exist_ok=True)
    for row in rows.itertuples():
        labels = np.repeat([0, 1], 150)
        separation = np.sqrt(2) * NormalDist().inv_cdf(row.auc)  # gives this AUC for unit-variance noise
        scores = 1 / (1 + np.exp(-(rng.normal(0, 1, labels.size) + separation * (labels - 0.5))))
        np.savez(folder / f"{row.cell_id}.npz", y_true=labels, score=scores)


def make_run(run_dir: Path, *, methods=None, cross: bool = True, finetune: bool = True,
             robustness: bool = True, scores: bool = True, seeds=(0, 1, 2), datasets=DATASETS,
             seed: int = 0) -> pd.DataFrame:
    """Write a run folder (results.csv, optional scores, config.yaml, run.json); return the table."""
    rng = np.random.default_rng(seed)
    methods = list(methods or product(BACKBONES, TRANSFORMS, REDUCTIONS, CLASSIFIERS))
    rows = feature_rows(rng, methods, list(datasets), list(seeds), cross)
    rows += finetune_rows(rng) if finetune else []
    rows += robustness_rows(rng) if robustness else []
    table = pd.DataFrame(rows)
    table.insert(0, "cell_id", [f"cell{index:05d}" for index in range(len(table))])
    run_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(run_dir / "results.csv", index=False)
    if scores:
        within_or_cross = table[table["protocol"].isin(["within", "cross"]) & (table["seed"] == 0)]
        write_scores(run_dir, within_or_cross.iloc[::2], rng)  # every other cell: some are missing
    (run_dir / "config.yaml").write_text("datasets: [progan, stylegan2, sd14]\nseeds: [0, 1, 2]\n")
    (run_dir / "run.json").write_text(json.dumps({"version": "0.1.0", "seeds": [0, 1, 2],
                                                  "versions": {"torch": "2.5.1", "sklearn": "1.5.2"}}))
    return table


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[Path, Path, Path, pd.DataFrame]:
    """A complete run and its report, written once for the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("full_run")
    table = make_run(run_dir)
    html_path, markdown_path = write_report(run_dir)
    return run_dir, html_path, markdown_path, table


def embedded_images(page: str) -> list[str]:
    """The src attribute of every <img> on the page."""
    return re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)


def method_mean(table: pd.DataFrame, method: tuple[str, str, str, str], protocol: str,
                train: str, test: str, metric: str = "auc") -> float:
    """Mean metric of one method on one train/test pair, straight from the raw table."""
    backbone, transform, reduction, classifier = method
    wanted = {"backbone": backbone, "transform": transform, "reduction": reduction, "classifier": classifier,
              "protocol": protocol, "train_dataset": train, "test_dataset": test, "perturbation": "none"}
    chosen = table[np.logical_and.reduce([table[column] == value for column, value in wanted.items()])]
    return float(chosen[metric].mean())


def test_report_files_are_written_where_promised(full_run):
    run_dir, html_path, markdown_path, _ = full_run
    assert html_path == run_dir / "report.html" and html_path.stat().st_size > 10_000
    assert markdown_path == run_dir / "report.md" and markdown_path.stat().st_size > 1_000


def test_html_is_self_contained(full_run):
    page = full_run[1].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    images = embedded_images(page)
    assert len(images) == len(EXPECTED_FIGURES)
    for source in images:
        assert source.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).verify()


def test_html_names_the_best_combination_and_the_best_generalizer(full_run):
    page = full_run[1].read_text(encoding="utf-8")
    best_label = " / ".join(BEST_WITHIN)
    cross_label = " / ".join(BEST_CROSS)
    findings = page[page.index('class="findings"'):page.index("</ul>")]
    assert f"Best within-dataset detector:</strong> {best_label}" in findings
    assert f"Best on unseen data:</strong> {cross_label}" in findings
    best_table = page[page.index('id="best"'):page.index('id="generalization"')]
    first_row = best_table[best_table.index("<tbody>"):].split("</tr>")[0]
    assert all(f">{name}<" in first_row for name in BEST_WITHIN[0:1] + BEST_WITHIN[3:])
    for heading in ("Best combinations", "Generalization to unseen data", "Leave-one-generator-out",
                    "Leave-one-dataset-out", "held-out dataset mean",
                    "ROC curves", "Robustness to degradations", "Feature-based vs fine-tuned",
                    "Run configuration", "All results"):
        assert heading in page
    assert "sklearn" in page and "1.5.2" in page  # run.json shown
    assert "<details>" in page


def test_leave_one_dataset_out_has_its_section_and_pooled_sets_are_no_datasets(full_run):
    _, _, markdown_path, table = full_run
    markdown = markdown_path.read_text(encoding="utf-8")
    section = markdown[markdown.index("## Leave-one-dataset-out"):].split("\n## ")[0]
    header = next(line for line in section.splitlines() if line.startswith("| method"))
    assert header == "| method | " + " | ".join(sorted(DATASETS)) + " | mean |"
    best = next(line for line in section.splitlines() if line.startswith(f"| {' / '.join(BEST_CROSS)} |"))
    for held_out in sorted(DATASETS):
        assert f"{method_mean(table, BEST_CROSS, 'lodo', f'all-but-{held_out}', held_out):.3f}" in best
    assert "](figures/lodo.png)" in section
    assert "- Datasets: " + ", ".join(sorted(DATASETS)) + "\n" in markdown  # no all-but-X among them
    comparison = markdown[markdown.index("## Feature-based vs fine-tuned"):].split("\n## ")[0]
    assert "| lodo |" in comparison


def test_markdown_has_best_rows_and_generalization_values(full_run):
    _, _, markdown_path, table = full_run
    markdown = markdown_path.read_text(encoding="utf-8")
    best = best_rows(table, n=3)
    table_start = markdown.index("## Best combinations")
    best_lines = [line for line in markdown[table_start:].splitlines() if line.startswith("| ")][1:4]
    for line, (_, row) in zip(best_lines, best.iterrows()):
        assert f"| {row['backbone']} |" in line and f"| {row['classifier']} |" in line
        assert f"{row['auc']:.3f}" in line
    assert "Generalization matrix" in markdown and " / ".join(BEST_CROSS) in markdown
    for train, test in product(DATASETS, DATASETS):
        protocol = "within" if train == test else "cross"
        assert f"{method_mean(table, BEST_CROSS, protocol, train, test):.3f}" in markdown
    for figure in EXPECTED_FIGURES:
        assert f"](figures/{figure})" in markdown


def test_every_expected_figure_is_a_real_png(full_run):
    run_dir = full_run[0]
    for name in EXPECTED_FIGURES:
        with Image.open(run_dir / "figures" / name) as image:
            assert image.format == "PNG"
            assert image.width >= 400 and image.height >= 300, name
            colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
            assert colors is None or len(colors) > 50, f"{name} looks blank"


def test_best_rows_averages_seeds_and_sorts_by_metric(full_run):
    table = full_run[3]
    best = best_rows(table, metric="auc", n=5)
    assert len(best) == 5 and best["auc"].is_monotonic_decreasing
    assert (best.loc[best["approach"] == "features", "n_seeds"] == 3).all()
    top = best.iloc[0]
    assert (top["backbone"], top["transform"], top["reduction"], top["classifier"]) == BEST_WITHIN
    dataset = top["test_dataset"]
    assert top["auc"] == pytest.approx(method_mean(table, BEST_WITHIN, "within", dataset, dataset))
    by_error = best_rows(table, metric="eer", n=5)
    assert by_error["eer"].is_monotonic_increasing  # lower is better
    assert set(best_rows(table, protocol="cross")["train_dataset"]) <= set(DATASETS)


def test_run_with_only_within_rows_and_no_scores(tmp_path):
    methods = [("clip_vitb16", "none", "none", "svm_rbf"), ("dinov2_vits14", "none", "none", "knn1")]
    make_run(tmp_path, methods=methods, cross=False, finetune=False, robustness=False, scores=False, seeds=(0,))
    (tmp_path / "config.yaml").unlink()
    (tmp_path / "run.json").unlink()
    html_path, markdown_path = write_report(tmp_path, metric="eer")
    page = html_path.read_text(encoding="utf-8")
    assert sorted(path.name for path in (tmp_path / "figures").glob("*.png")) == ["heatmap_none.png"]
    assert len(embedded_images(page)) == 1
    assert "Best combinations" in page and "Generalization to unseen data" not in page
    assert "ROC curves" not in page and "Run configuration" not in page
    assert "clip_vitb16" in markdown_path.read_text(encoding="utf-8")


def test_a_run_notice_is_a_banner_in_both_reports(tmp_path):
    make_run(tmp_path, robustness=False, finetune=False, seeds=(0,))
    config = tmp_path / "config.yaml"
    config.write_text((config.read_text() if config.exists() else "") + "notice: 'Toy data: <not> proof'\n")
    html_path, markdown_path = write_report(tmp_path)
    page = html_path.read_text(encoding="utf-8")
    banner = page.split('<p class="notice" role="note">', 1)[1].split("</p>", 1)[0]
    assert banner == "Toy data: &lt;not&gt; proof"
    assert page.index('class="notice"') < page.index("<nav")  # before anything else is read
    assert "> **Toy data: &lt;not&gt; proof**" in markdown_path.read_text(encoding="utf-8")


def test_html_special_characters_are_escaped(tmp_path):
    nasty = [("<script>alert(1)</script>", "none", "none", "svm&rbf"), ('vit"b', "none", "none", "knn|1")]
    make_run(tmp_path, methods=nasty, robustness=False, finetune=False, seeds=(0,))
    html_path, markdown_path = write_report(tmp_path)
    page = html_path.read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "svm&amp;rbf" in page
    assert 'vit"b' not in page and ("vit&quot;b" in page or "vit&#34;b" in page)  # jinja2 writes &#34;
    markdown = markdown_path.read_text(encoding="utf-8")
    assert "<script>" not in markdown and "knn\\|1" in markdown
    assert all(name.endswith(".png") and "<" not in name for name in
               (path.name for path in (tmp_path / "figures").iterdir()))


def test_rerun_with_less_data_drops_stale_figures(tmp_path):
    make_run(tmp_path, methods=[BEST_WITHIN], cross=False, finetune=False, scores=False, seeds=(0,))
    write_report(tmp_path)
    assert (tmp_path / "figures" / "robustness.png").exists()
    make_run(tmp_path, methods=[BEST_WITHIN], cross=False, robustness=False, finetune=False, seeds=(0,))
    write_report(tmp_path)
    assert not (tmp_path / "figures" / "robustness.png").exists()
    assert "robustness.png" not in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_unknown_metric_is_refused(full_run):
    with pytest.raises(UnknownNameError, match="unknown metric 'f1_score'; choose from: "):
        write_report(full_run[0], metric="f1_score")


def test_the_report_shows_every_metric_of_the_schema(full_run):
    """Adding a metric to runs.schema is enough for it to appear in the report."""
    _, html_path, _, table = full_run
    for name in table.columns.intersection(list(NUMERIC)):
        assert pd.api.types.is_numeric_dtype(table[name])
    page = html_path.read_text(encoding="utf-8")
    for metric in METRICS:
        assert f"<th class=\"num\">{html.escape(metric.label)}</th>" in page or f"<th>{html.escape(metric.label)}</th>" in page, metric.name


@pytest.mark.parametrize("metric", [m.name for m in METRICS if m.name in ("auc", "eer", "accuracy", "ap")])
def test_the_report_ranks_by_a_schema_metric_in_its_direction(full_run, metric, tmp_path):
    run_dir, _, _, table = full_run
    shutil.copytree(run_dir, tmp_path / "run")
    write_report(tmp_path / "run", metric=metric)
    best = best_rows(table, metric=metric, n=3)[metric].tolist()
    assert best == sorted(best, reverse=higher_is_better(metric))


def test_roc_curve_area_matches_rank_statistic():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounding creates ties
    fpr, tpr, area = roc_curve(labels, scores)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).mean() + 0.5 * (positives[:, None] == negatives[None, :]).mean()
    assert area == pytest.approx(wins, abs=1e-9)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert roc_curve(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))[2] == 1.0


def test_five_thousand_rows_render(tmp_path):
    """Scale in rows (datasets x seeds), not in figure panels."""
    backbones = [f"backbone{i}" for i in range(4)]
    classifiers = ["svm_rbf", "knn1", "logreg", "linear_probe"]
    methods = list(product(backbones, ["none", "blur+jitter"], ["none", "pca"], classifiers))
    datasets = ["progan", "stylegan2", "sd14", "midjourney", "dalle3"]
    table = make_run(tmp_path, methods=methods, seeds=range(11), datasets=datasets, scores=False)
    assert len(table) >= 5_000
    write_report(tmp_path)
    assert "midjourney" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_sparse_or_damaged_runs_still_get_a_report(tmp_path):
    """A header-only table, a table with few columns, corrupt score files and a bad run.json."""
    empty_run, sparse_run, damaged_run = tmp_path / "empty", tmp_path / "sparse", tmp_path / "damaged"
    make_run(empty_run, methods=[BEST_WITHIN], seeds=(0,))
    pd.read_csv(empty_run / "results.csv").iloc[:0].to_csv(empty_run / "results.csv", index=False)
    sparse_run.mkdir()
    pd.DataFrame({"cell_id": ["a", "b"], "protocol": ["within", "within"], "train_dataset": ["x", "x"],
                  "test_dataset": ["x", "x"], "backbone": ["b1", "b2"], "classifier": ["c", "c"],
                  "auc": [0.9, 0.8]}).to_csv(sparse_run / "results.csv", index=False)
    make_run(damaged_run, methods=[BEST_WITHIN, BEST_CROSS], seeds=(0,), robustness=False, finetune=False)
    for path in sorted((damaged_run / "scores").glob("*.npz"))[::2]:
        path.write_bytes(b"not an npz file")
    (damaged_run / "run.json").write_text("{not json")
    for run_dir in (empty_run, sparse_run, damaged_run):
        html_path, markdown_path = write_report(run_dir)
        assert "Best combinations" in html_path.read_text(encoding="utf-8")
        assert markdown_path.read_text(encoding="utf-8").startswith("# Deepfake detection report")
    assert "b1 / none / none / c" in (sparse_run / "report.md").read_text(encoding="utf-8")
    damaged_page = (damaged_run / "report.html").read_text(encoding="utf-8")
    assert "{not json" in damaged_page and (damaged_run / "figures" / "roc_curves.png").exists()
