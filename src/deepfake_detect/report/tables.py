"""Turn the raw per-cell results table into the small summaries the report shows.

Kept free of plotting and HTML so the CLI can print exactly the numbers the report shows.
Every summary starts from *clean* rows (perturbation "none") unless it is about robustness,
and averages over seeds before averaging over datasets, so an extra seed on one dataset
does not tilt a mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UnknownNameError
from ..runs import schema
from ..runs.folder import RESULTS_CSV
from ..runs.schema import NO_PERTURBATION, NUMERIC
from ..transforms.degrade import ROBUSTNESS_LEVELS

# Missing or empty categorical values are filled with these, so grouping never drops rows.
CATEGORY_DEFAULTS = {
    "cell_id": "",
    "approach": "features",
    "protocol": "within",
    "train_dataset": "unknown",
    "test_dataset": "unknown",
    "perturbation": NO_PERTURBATION,
    "transform": "none",
    "backbone": "unknown",
    "reduction": "none",
    "classifier": "unknown",
}
METRIC_COLUMNS = list(NUMERIC)
"""Every numeric results column the schema knows, metrics and measurements."""
METHOD_COLUMNS = list(schema.METHOD_COLUMNS)
PAIR_COLUMNS = ["train_dataset", "test_dataset"]
HELD_OUT_PROTOCOLS = ("logo", "lodo")
"""Each test set held out of training in turn: a generator (logo) or a whole dataset (lodo)."""
CLEAN_PROTOCOLS = ("within", "cross", *HELD_OUT_PROTOCOLS)
"""The protocols scored on unperturbed images, in report order."""


def lower_is_better(metric: str) -> bool:
    return not schema.higher_is_better(metric)


def load_results(run_dir: Path) -> pd.DataFrame:
    """Read RUN_DIR/results.csv without letting pandas turn names like "none" or "NA" into NaN."""
    raw = pd.read_csv(Path(run_dir) / RESULTS_CSV, keep_default_na=False, na_values=["", "nan", "NaN"])
    return normalize_results(raw)


def normalize_results(results: pd.DataFrame) -> pd.DataFrame:
    """Fill defaults, fix dtypes and add a readable `method` column.

    Callers (the CLI, tests) may hand over tables from other sources; normalizing here
    means every summary can rely on the same columns and types.
    """
    table = results.copy()
    for column, default in CATEGORY_DEFAULTS.items():
        if column not in table:
            table[column] = default
        table[column] = table[column].fillna(default).astype(str).replace("", default)
    for column in METRIC_COLUMNS + ["level"]:
        table[column] = pd.to_numeric(table[column], errors="coerce") if column in table else np.nan
    seeds = table["seed"] if "seed" in table else pd.Series(0, index=table.index)
    table["seed"] = pd.to_numeric(seeds, errors="coerce").fillna(0).astype(int)
    table["method"] = method_labels(table)
    return table


def method_labels(table: pd.DataFrame) -> pd.Series:
    """Name each row's method as "backbone / transform / reduction / classifier".

    Networks (fine-tuned, published reference, adapted) have no separate transform/reduction/
    classifier, so they read "architecture / fine-tuned" instead of three meaningless "none"s.
    """
    features = (table["backbone"] + " / " + table["transform"] + " / "
                + table["reduction"] + " / " + table["classifier"])
    networks = table["backbone"] + " / " + table["approach"].map(NETWORK_APPROACHES).fillna("")
    return pd.Series(np.where(table["approach"].isin(list(NETWORK_APPROACHES)), networks, features), index=table.index)


NETWORK_APPROACHES = {"finetune": "fine-tuned", "reference": "published reference", "adapt": "adapted"}
"""Approaches whose rows are one network (no transform, reduction or classifier), and how their method reads."""


def few_shot_curves(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Metric against k for few-shot adaptation rows: columns test_dataset, k, value, low, high, n_test."""
    rows = table[(table["approach"] == "adapt") & (table["perturbation"] == "few_shot")]
    if rows.empty:
        return pd.DataFrame(columns=["test_dataset", "k", "value", "low", "high", "n_test"])
    low, high = (f"{metric}_low", f"{metric}_high") if f"{metric}_low" in rows else (metric, metric)
    curves = rows.groupby(["test_dataset", "level"], as_index=False).agg(
        value=(metric, "mean"), low=(low, "mean"), high=(high, "mean"), n_test=("n_test", "mean"))
    return curves.rename(columns={"level": "k"}).sort_values(["test_dataset", "k"], kind="stable")


def reference_comparison(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per test set: each published reference detector beside the project's best method (clean images).

    Columns: test_dataset, method, approach, value. Empty without reference rows.
    """
    clean = table[(table["perturbation"] == "none") & (table["protocol"].isin(CLEAN_PROTOCOLS))]
    references = clean[clean["approach"] == "reference"]
    if references.empty:
        return pd.DataFrame(columns=["test_dataset", "method", "approach", "value"])
    ours = clean[~clean["approach"].isin(["reference", "adapt"])]
    ours = ours[ours["test_dataset"].isin(set(references["test_dataset"]))]
    means = (pd.concat([references, ours]).groupby(["test_dataset", "method", "approach"], as_index=False)[metric]
             .mean().rename(columns={metric: "value"}))
    best_ours = sort_by_metric(means[means["approach"] != "reference"], metric, "value").drop_duplicates("test_dataset")
    return pd.concat([means[means["approach"] == "reference"], best_ours]).sort_values(["test_dataset", "approach"])


def check_metric(table: pd.DataFrame, metric: str) -> None:
    """Fail early with the list of usable columns instead of a KeyError deep in a plot."""
    if metric not in table.columns or not pd.api.types.is_numeric_dtype(table[metric]):
        usable = [c for c in METRIC_COLUMNS if c in table.columns]
        raise UnknownNameError("metric", metric, usable)


def clean_rows(table: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Rows of one protocol evaluated on unperturbed images."""
    return table[(table["protocol"] == protocol) & (table["perturbation"] == "none")]


def sort_by_metric(table: pd.DataFrame, metric: str, column: str | None = None) -> pd.DataFrame:
    """Best first, whichever direction is "better" for this metric; NaN last."""
    return table.sort_values(column or metric, ascending=lower_is_better(metric),
                             na_position="last", kind="stable")


def worse_of(metric: str) -> str:
    """Name of the pandas reducer that picks the worst value of a metric ("min", or "max" for EER)."""
    return "max" if lower_is_better(metric) else "min"


def aggregate_over_seeds(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean and standard deviation of every metric over seeds, one row per `keys` group.

    The `method` label is always kept as a key (it is determined by the method columns),
    so every summary can be filtered by method name afterwards.
    """
    metrics = [c for c in METRIC_COLUMNS if c in table.columns]
    keys = list(dict.fromkeys(keys + ["method"])) if "method" in table else keys
    if table.empty:
        return pd.DataFrame(columns=keys + metrics + [f"{m}_std" for m in metrics] + ["n_seeds"])
    grouped = table.groupby(keys, dropna=False, sort=False)
    means = grouped[metrics].mean()
    stds = grouped[metrics].std().add_suffix("_std")
    seeds = grouped["seed"].nunique().rename("n_seeds")
    return means.join(stds).join(seeds).reset_index()


def best_rows(results: pd.DataFrame, metric: str = "auc", n: int = 10,
              protocol: str = "within") -> pd.DataFrame:
    """Top `n` (method, train, test) combinations by `metric`, averaged over seeds.

    Uses clean (unperturbed) rows of `protocol`. Columns: the method columns, `method`,
    train/test dataset, `n_seeds`, each metric's mean and `<metric>_std`.
    """
    table = normalize_results(results)
    check_metric(table, metric)
    grouped = aggregate_over_seeds(clean_rows(table, protocol), METHOD_COLUMNS + PAIR_COLUMNS)
    return sort_by_metric(grouped, metric).head(n).reset_index(drop=True)


def train_test_scores(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Seed-averaged metric for every (method, train, test) pair of the cross protocol.

    The diagonal (train == test) comes from within rows unless the cross rows have it,
    so the generalization matrix always shows the in-distribution reference.
    Columns: method, approach, train_dataset, test_dataset, value.
    """
    keys = ["method", "approach"] + PAIR_COLUMNS
    cross = aggregate_over_seeds(clean_rows(table, "cross"), keys)[keys + [metric]]
    within = aggregate_over_seeds(clean_rows(table, "within"), keys)[keys + [metric]]
    within = within[within["train_dataset"] == within["test_dataset"]]
    have = pd.MultiIndex.from_frame(cross[keys]) if len(cross) else pd.MultiIndex.from_tuples([], names=keys)
    within = within[~pd.MultiIndex.from_frame(within[keys]).isin(have)] if len(within) else within
    frames = [frame for frame in (cross, within) if len(frame)]
    if not frames:
        return pd.DataFrame(columns=keys + ["value"])
    return pd.concat(frames, ignore_index=True).rename(columns={metric: "value"})


def datasets_in(table: pd.DataFrame) -> list[str]:
    """All dataset names used for training or testing, sorted."""
    return sorted(set(table["train_dataset"]) | set(table["test_dataset"]))


def best_cross_method(pairs: pd.DataFrame, metric: str, approach: str | None = None) -> str | None:
    """Method with the best mean metric on off-diagonal (truly cross-dataset) pairs."""
    off_diagonal = pairs[pairs["train_dataset"] != pairs["test_dataset"]]
    if approach is not None:
        off_diagonal = off_diagonal[off_diagonal["approach"] == approach]
    means = off_diagonal.groupby("method")["value"].mean().dropna()
    if means.empty:
        return None
    return str(means.idxmin() if lower_is_better(metric) else means.idxmax())


def generalization_matrix(pairs: pd.DataFrame, method: str, datasets: list[str]) -> pd.DataFrame:
    """train_dataset (rows) x test_dataset (columns) matrix of one method; NaN where not run."""
    chosen = pairs[pairs["method"] == method]
    matrix = chosen.pivot_table(index="train_dataset", columns="test_dataset", values="value", aggfunc="mean")
    trains = [d for d in datasets if d in matrix.index]
    return matrix.reindex(index=trains, columns=datasets)


def generalization_ranking(table: pd.DataFrame, metric: str, n: int = 10) -> pd.DataFrame:
    """Rank methods by how well they do on data they were not trained on.

    "Unseen" pools off-diagonal cross-dataset pairs, leave-one-generator-out and
    leave-one-dataset-out tests (each seed-averaged first); `unseen_worst` is the weakest
    such pair, which tells whether a method *still* works, not just on average.
    Within-dataset and robustness means are shown alongside for context.
    """
    pairs = train_test_scores(table, metric)
    cross = pairs[pairs["train_dataset"] != pairs["test_dataset"]].assign(kind="cross")
    keys = ["method", "approach"] + PAIR_COLUMNS
    held_out = {protocol: aggregate_over_seeds(clean_rows(table, protocol), keys)[keys + [metric]]
                .rename(columns={metric: "value"}).assign(kind=protocol) for protocol in HELD_OUT_PROTOCOLS}
    unseen = pd.concat([frame for frame in (cross, *held_out.values()) if len(frame)] or [cross], ignore_index=True)
    if unseen.empty:
        return pd.DataFrame()
    by_method = unseen.groupby(["method", "approach"])
    ranking = pd.DataFrame({
        "unseen_mean": by_method["value"].mean(),
        "unseen_worst": by_method["value"].agg(worse_of(metric)),
        "n_unseen": by_method["value"].count(),
    })
    ranking["cross_mean"] = cross.groupby(["method", "approach"])["value"].mean()
    for protocol, frame in held_out.items():
        ranking[f"{protocol}_mean"] = frame.groupby(["method", "approach"])["value"].mean()
    ranking["within_mean"] = method_means(clean_rows(table, "within"), metric)
    ranking["robustness_mean"] = method_means(perturbed_rows(table), metric)
    ranking = ranking.reset_index()
    return sort_by_metric(ranking, metric, "unseen_mean").head(n).reset_index(drop=True)


def method_means(rows: pd.DataFrame, metric: str) -> pd.Series:
    """Per (method, approach): mean over datasets of the seed-averaged metric."""
    per_pair = aggregate_over_seeds(rows, ["method", "approach", "perturbation", "level"] + PAIR_COLUMNS)
    if per_pair.empty:
        return pd.Series(dtype=float)
    return per_pair.groupby(["method", "approach"])[metric].mean()


def perturbed_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Robustness rows on perturbed images (the clean reference excluded)."""
    return table[(table["protocol"] == "robustness") & (table["perturbation"] != "none")]


def held_out_table(table: pd.DataFrame, metric: str, protocol: str = "logo", n: int = 5) -> pd.DataFrame:
    """Top `n` methods under a held-out protocol (HELD_OUT_PROTOCOLS): method x held-out test set, plus mean.

    Rows are indexed by method; the last column, "mean", is what they are ranked by.
    """
    rows = aggregate_over_seeds(clean_rows(table, protocol), ["method"] + PAIR_COLUMNS)
    if rows.empty:
        return pd.DataFrame()
    matrix = rows.pivot_table(index="method", columns="test_dataset", values=metric, aggfunc="mean")
    matrix["mean"] = matrix.mean(axis=1)
    return sort_by_metric(matrix, metric, "mean").head(n)


def heatmap_tables(table: pd.DataFrame, metric: str) -> dict[tuple[str, str], pd.DataFrame]:
    """classifier x backbone matrices of the metric, one per (reduction, transform) pair.

    Within protocol, clean images, feature-based methods only (fine-tuned networks have
    no classifier/backbone split). Each cell is averaged over seeds, then over datasets.
    """
    rows = clean_rows(table, "within")
    rows = rows[rows["approach"] == "features"]
    per_dataset = aggregate_over_seeds(rows, METHOD_COLUMNS + ["test_dataset"])
    tables: dict[tuple[str, str], pd.DataFrame] = {}
    for (reduction, transform), group in per_dataset.groupby(["reduction", "transform"], sort=True):
        tables[(str(reduction), str(transform))] = group.pivot_table(
            index="classifier", columns="backbone", values=metric, aggfunc="mean")
    return tables


def robustness_curves(table: pd.DataFrame, metric: str, n: int = 4) -> pd.DataFrame:
    """Metric vs perturbation level for the `n` methods with the best mean over perturbed images.

    Each curve gets its clean point (JPEG quality 100, blur 0, downscale 1) from the
    robustness protocol's unperturbed rows, or else from within rows on the same test sets.
    Columns: method, perturbation, level, value (averaged over seeds and test sets).
    """
    perturbed = perturbed_rows(table)
    if perturbed.empty:
        return pd.DataFrame(columns=["method", "perturbation", "level", "value"])
    ranking = sort_by_metric(method_means(perturbed, metric).rename("value").reset_index(), metric, "value")
    methods = ranking["method"].head(n).tolist()
    rows = perturbed[perturbed["method"].isin(methods)]
    curves = level_means(rows, ["method", "perturbation", "level"], metric)
    clean = clean_reference(table, methods, set(rows["test_dataset"]), metric)
    reference = [clean_points(clean, perturbation) for perturbation in curves["perturbation"].unique()]
    curves = pd.concat([curves] + [r for r in reference if len(r)], ignore_index=True)
    curves = curves.drop_duplicates(["method", "perturbation", "level"], keep="first")
    order = {method: rank for rank, method in enumerate(methods)}
    return curves.sort_values(["perturbation", "level"]).sort_values(
        "method", key=lambda names: names.map(order), kind="stable").reset_index(drop=True)


def level_means(rows: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """Seed-average per test set, then average over test sets."""
    per_dataset = aggregate_over_seeds(rows, keys + ["test_dataset"])
    return per_dataset.groupby(keys, dropna=False)[metric].mean().rename("value").reset_index()


CLEAN_LEVEL = {kind: float(levels[0]) for kind, levels in ROBUSTNESS_LEVELS.items()}
"""The mildest level of each perturbation (JPEG 100, blur 0, scale 1): where its clean point is drawn."""


def clean_reference(table: pd.DataFrame, methods: list[str], test_sets: set[str], metric: str) -> pd.Series:
    """Per method: its metric on unperturbed images of the robustness test sets."""
    for protocol in ("robustness", "within"):
        rows = clean_rows(table, protocol)
        rows = rows[rows["method"].isin(methods) & rows["test_dataset"].isin(test_sets)]
        if len(rows):
            return level_means(rows, ["method"], metric).set_index("method")["value"]
    return pd.Series(dtype=float)


def clean_points(clean: pd.Series, perturbation: str) -> pd.DataFrame:
    """The clean reference as points of one perturbation's curves (if its clean level is known)."""
    if perturbation not in CLEAN_LEVEL or clean.empty:
        return pd.DataFrame()
    return pd.DataFrame({"method": clean.index, "perturbation": perturbation,
                         "level": CLEAN_LEVEL[perturbation], "value": clean.values})


def approach_comparison(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Best metric per approach and test set, per clean protocol (CLEAN_PROTOCOLS).

    Cross keeps only off-diagonal pairs. Empty unless both approaches were evaluated.
    Columns: protocol, test_dataset, approach, value, method.
    """
    if table["approach"].nunique() < 2:
        return pd.DataFrame()
    frames = []
    for protocol in CLEAN_PROTOCOLS:
        rows = aggregate_over_seeds(clean_rows(table, protocol), ["method", "approach"] + PAIR_COLUMNS)
        if protocol == "cross":
            rows = rows[rows["train_dataset"] != rows["test_dataset"]]
        rows = sort_by_metric(rows.dropna(subset=[metric]), metric)
        best = rows.drop_duplicates(["approach", "test_dataset"], keep="first")
        frames.append(best.assign(protocol=protocol)[["protocol", "test_dataset", "approach", metric, "method"]])
    comparison = pd.concat(frames, ignore_index=True).rename(columns={metric: "value"})
    return comparison if comparison["approach"].nunique() >= 2 else pd.DataFrame()


def evaluated_datasets(table: pd.DataFrame) -> list[str]:
    """Dataset names, without the "all but X" training sets of the held-out protocols."""
    held_out = table["protocol"].isin(HELD_OUT_PROTOCOLS)
    return sorted(set(datasets_in(table[~held_out])) | set(table.loc[held_out, "test_dataset"]))


def run_summary(table: pd.DataFrame) -> dict[str, str]:
    """What was evaluated, as label -> text, for the top of the report."""
    def listing(values) -> str:
        names = sorted({str(v) for v in values})
        return ", ".join(names) if names else "–"

    protocols = table["protocol"].value_counts()
    perturbed = table[table["perturbation"] != "none"]
    levels = perturbed.groupby("perturbation")["level"].agg(lambda lv: ", ".join(f"{x:g}" for x in sorted(lv.dropna().unique())))
    features = table[table["approach"] == "features"]
    finetune = table[table["approach"] == "finetune"]
    summary = {
        "Result rows": f"{len(table):,}",
        "Rows per protocol": ", ".join(f"{name} {count:,}" for name, count in protocols.items()),
        "Datasets": listing(evaluated_datasets(table)),
        "Methods": f"{table['method'].nunique():,} distinct",
        "Backbones": listing(features["backbone"]),
        "Transforms": listing(features["transform"]),
        "Reductions": listing(features["reduction"]),
        "Classifiers": listing(features["classifier"]),
        "Fine-tuned networks": listing(finetune["backbone"]),
        "Seeds": listing(table["seed"]),
        "Perturbations": "; ".join(f"{name}: {lv}" for name, lv in levels.items()) or "–",
    }
    return {label: text for label, text in summary.items() if text != "–" or label == "Datasets"}
