"""Training a features detector: cached features -> pipeline -> calibration -> threshold -> folder.

The reduction and classifier are fitted on the training split; the calibration (Platt or
isotonic) and the decision threshold on a held-out validation split, so the probability a
user sees and the verdict's false-alarm rate are estimates on images the classifier never
saw. The training transformation (blur, jitter) is an augmentation: validation features
are those of the clean images, as a detector will see them in use.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DetectorError, UserError
from ..evaluate.metrics import threshold_rule
from ..runs.folder import CONFIG_FILE, RESULTS_CSV
from ..runtime import versions
from ..transforms import TransformSpec
from ..detector.kinds.features import BACKBONE_FILE, CLASSIC_FILE, FEATURES, MODEL_FILE, estimator_bytes
from ..detector.folder import read_detector_folder, write_detector_folder
from ..detector.onnx_export import with_onnx
from .classic_graph import RANDOM_CHECK_ROWS, checked_classic_graph
from .plan import TrainingPlan

GRID_RESULTS_FILE = RESULTS_CSV
GRID_CONFIG_FILE = CONFIG_FILE
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@dataclass
class Features:
    """Feature rows of the readable images, and what was lost on the way."""

    X: np.ndarray
    y: np.ndarray
    ids: list[str]
    rows: list[int]
    """Record index of each row."""
    unreadable: list[tuple[str, str]]


# --- threshold -------------------------------------------------------------------------------


# --- features ----------------------------------------------------------------------------------


def _null_progress(description: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda n: None)


def cached_features(
    dataset, backbone, cache, transform: TransformSpec, preprocess: str,
    batch_size: int, workers: int | None, progress: ProgressFactory, on_bad: Callable[[str], None] | None,
) -> Features:
    """Features from the cache, extracting only what is missing (nothing, after a grid run)."""
    from ..features import extract_features, feature_space, load_features

    space = feature_space(backbone, transform, preprocess)
    todo = len(cache.missing(space, dataset.ids))
    with progress(f"{backbone.name} [{transform.name}]", todo) as advance:
        report = extract_features(
            dataset, backbone, cache, transform, preprocess,
            batch_size=batch_size, workers=workers, progress=advance, on_bad=on_bad,
        )
    X, y, ids, rows = load_features(dataset, space, cache)
    return Features(X, y, ids, rows, report.bad)


def _check_split(y: np.ndarray, part: str, minimum: int) -> None:
    counts = {"real": int(np.sum(y == 0)), "fake": int(np.sum(y == 1))}
    short = [name for name, count in counts.items() if count < minimum]
    if short:
        raise DetectorError(
            f"the {part} split has {counts['real']} real and {counts['fake']} fake images; it needs at least "
            f"{minimum} of each (use more images or change --validation-size)"
        )


# --- training ------------------------------------------------------------------------------------


@dataclass
class TrainedDetector:
    path: Path
    manifest: dict[str, Any]
    unreadable: list[tuple[str, str]]


def train_detector(
    plan: TrainingPlan,
    output: str | Path,
    batch_size: int = 64,
    workers: int | None = None,
    progress: ProgressFactory | None = None,
    on_bad: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> TrainedDetector:
    """Train, calibrate and save a features detector into the folder `output`."""
    from ..backbones import create_backbone
    from ..data import Dataset, load_dataset
    from ..evaluate.splits import split_by_id
    from ..features import FeatureCache

    output = Path(output)
    _check_output(output, overwrite)
    progress = progress or _null_progress
    build_pipeline(plan)  # every name and parameter is checked before the (possibly long) extraction
    dataset = load_dataset(plan.dataset, plan.data_root, plan.max_per_class, plan.seed, name=plan.dataset_name)
    dataset.check_usable()
    backbone = create_backbone(plan.backbone, plan.weights, seed=plan.seed)
    with FeatureCache(plan.cache) as cache:
        args = (backbone, cache)
        options = (plan.preprocess, batch_size, workers, progress, on_bad)
        train = cached_features(dataset, *args, plan.transform, *options)
        _check_split(train.y, "readable", 3)
        train_rows, val_rows = split_by_id(train.y, train.ids, plan.validation_size, plan.seed, _groups(dataset, train))
        if plan.transform.name == "none":
            X_val, y_val = train.X[val_rows], train.y[val_rows]
        else:
            val_set = Dataset(dataset.name, [dataset.records[train.rows[i]] for i in val_rows])
            clean = cached_features(val_set, *args, TransformSpec(), *options)
            X_val, y_val = clean.X, clean.y
    X_train, y_train = train.X[train_rows], train.y[train_rows]
    _check_split(y_train, "training", 1)
    _check_split(y_val, "validation", 2)
    fitted = fit_calibrated(plan, X_train, y_train, X_val, y_val)
    data = {
        "name": dataset.name,
        "source": [str(s) for s in plan.dataset] if isinstance(plan.dataset, list) else str(plan.dataset),
        "max_per_class": plan.max_per_class,
        "images": len(dataset),
        **dataset.counts(),
        "generators": dataset.generators(),
        "unreadable": len(train.unreadable),
        "train": _counts(y_train),
        "validation": _counts(y_val),
    }
    manifest = save_features_detector(output, plan, backbone, fitted, data)
    return TrainedDetector(output, manifest, train.unreadable)


@dataclass
class FittedModel:
    """The calibrated pipeline, its threshold rule and its validation metrics."""

    estimator: Any
    rule: dict[str, Any]
    metrics: dict[str, Any]
    validation_rows: np.ndarray
    """The calibration rows: its ONNX graph must give the pipeline's numbers on them."""


def build_pipeline(plan: TrainingPlan):
    """reduction -> classifier, unfitted; a wrong parameter is a one-line `DetectorError`."""
    from sklearn.pipeline import Pipeline

    from ..classify import create_classifier
    from ..reduce import create_reducer

    return Pipeline([
        ("reduce", _built("reduction", lambda: create_reducer(plan.reduction, **plan.reduction_params))),
        ("classify", _built("classifier", lambda: create_classifier(plan.classifier, **plan.classifier_params))),
    ])


def fit_calibrated(plan: TrainingPlan, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                   y_val: np.ndarray) -> FittedModel:
    """Fit the pipeline on the training rows; calibration and threshold on the validation rows."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    from ..classify import fake_scores
    from ..evaluate.metrics import compute_metrics

    pipeline = build_pipeline(plan).fit(X_train, y_train)
    # cv only partitions the validation rows: a frozen pipeline is not refitted per fold, so
    # one calibrator is fitted on all of them (2 folds need just 2 images per class).
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipeline), method=plan.calibration, cv=2)
    calibrated.fit(X_val, y_val)
    val_scores = fake_scores(calibrated, X_val)
    rule = threshold_rule(val_scores, y_val, plan.target_fpr)
    metrics = compute_metrics(y_val, val_scores, rule["threshold"], seed=plan.seed)
    metrics["fpr"] = 1.0 - metrics["real_accuracy"]
    metrics["tpr"] = metrics["fake_accuracy"]
    return FittedModel(calibrated, rule, metrics, X_val)


def save_features_detector(output: Path, plan: TrainingPlan, backbone, fitted: FittedModel,
                           data: dict[str, Any]) -> dict[str, Any]:
    """Write the detector folder (through `detector.folder`); returns the manifest as saved."""
    from ..backbones.finetuned import weights_bytes

    files = {MODEL_FILE: estimator_bytes(fitted.estimator)}
    if backbone.info.needs_weights:
        # The exact weights: the detector needs no download and cannot drift upstream.
        files[BACKBONE_FILE] = weights_bytes(backbone.network)
    manifest = build_manifest(plan, backbone, fitted.rule, fitted.metrics, data)
    graph, graph_info = checked_classic_graph(fitted.estimator, fitted.validation_rows)
    if graph is not None:  # ONNX Runtime then scores without scikit-learn
        files[CLASSIC_FILE] = graph
        graph_info = {"file": CLASSIC_FILE, **graph_info,
                      "checked_on": f"the validation split and {RANDOM_CHECK_ROWS} random rows with its mean and spread"}
    manifest["classic_graph"] = graph_info
    manifest, files = with_onnx(manifest, files, backbone, backbone.info.input_size, FEATURES.onnx_output)
    write_detector_folder(output, manifest, files)
    return read_detector_folder(output).raw


def _groups(dataset, features: Features) -> list[str | None] | None:
    groups = dataset.groups
    return None if groups is None else [groups[i] for i in features.rows]


def _built(kind: str, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except UserError:  # an unknown name: already one clear line
        raise
    except (KeyError, ValueError, TypeError) as exc:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        raise DetectorError(f"{kind}: {text}") from None


def _check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not output.is_dir():
        raise DetectorError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise DetectorError(f"{output}: exists and is not empty (pass --overwrite to replace a detector)")


def _counts(y: np.ndarray) -> dict[str, int]:
    return {"real": int(np.sum(y == 0)), "fake": int(np.sum(y == 1))}


def build_manifest(plan: TrainingPlan, backbone, rule: dict[str, Any], metrics: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    info = backbone.info
    return {
        "kind": "features",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "backbone": {
            "name": info.name,
            "weights_id": backbone.weights_id,
            "weights_source": _weights_source(plan.weights) if info.needs_weights else "none (hand-crafted)",
            "weights_bundled": info.needs_weights,
            "input_size": info.input_size,
            "embed_dim": info.embed_dim,
        },
        "preprocess": {"policy": plan.preprocess, "size": info.input_size, "mean": list(info.mean), "std": list(info.std)},
        "transform": {**plan.transform.model_dump(mode="json"), "applied_to": "training images only"},
        "reduction": {"name": plan.reduction, "params": plan.reduction_params},
        "classifier": {"name": plan.classifier, "params": plan.classifier_params},
        "calibration": {"method": plan.calibration, "fitted_on": "validation split"},
        "threshold": rule["threshold"],
        "threshold_rule": rule,
        "validation": {
            "fraction": plan.validation_size,
            "seed": plan.seed,
            "split": "by image content hash (no image on both sides)",
            "metrics": metrics,
            "note": "calibration and threshold were fitted on this split, so these metrics are slightly optimistic",
        },
        "training_data": data,
        "origin": plan.origin,
        "versions": versions(),
    }


def _weights_source(weights: str) -> str:
    if weights in ("pretrained", "random"):
        return weights
    return str(Path(weights).expanduser().resolve())


# --- from a grid run -------------------------------------------------------------------------------

METHOD_KEYS = ["train_dataset", "backbone", "transform", "reduction", "classifier"]


def best_grid_method(run_dir: Path) -> tuple[dict[str, str], float, int]:
    """(method, mean AUC over seeds, seed count) of the best clean within-dataset features cell."""
    import pandas as pd

    path = run_dir / GRID_RESULTS_FILE
    if not path.is_file():
        raise DetectorError(f"{path} not found: not a grid run folder")
    table = pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"])
    missing = [c for c in METHOD_KEYS + ["auc"] if c not in table.columns]
    if missing:
        raise DetectorError(f"{path}: missing columns {', '.join(missing)}")
    for column, default in (("approach", "features"), ("protocol", "within"), ("perturbation", "none")):
        table[column] = table[column].astype(str) if column in table else default
    table["auc"] = pd.to_numeric(table["auc"], errors="coerce")
    chosen = table[(table.approach == "features") & (table.protocol == "within") & (table.perturbation == "none")]
    chosen = chosen.dropna(subset=["auc"])
    if chosen.empty:
        raise DetectorError(f"{path}: no clean within-dataset results of the features approach to choose from")
    chosen = chosen.astype({k: str for k in METHOD_KEYS})
    grouped = chosen.groupby(METHOD_KEYS, sort=True)["auc"].agg(["mean", "count"])
    best = grouped["mean"].idxmax()
    return dict(zip(METHOD_KEYS, best)), float(grouped.loc[best, "mean"]), int(grouped.loc[best, "count"])


def plan_from_grid(run_dir: str | Path, **overrides: Any) -> TrainingPlan:
    """The training plan of a grid run's best cell, with the run's own settings and cache."""
    from ..grid.config import ConfigError, load_config, registry_name

    run_dir = Path(run_dir)
    method, mean_auc, n_seeds = best_grid_method(run_dir)
    try:
        config = load_config(run_dir / GRID_CONFIG_FILE)
    except ConfigError as exc:
        raise DetectorError(str(exc)) from None
    name = method["train_dataset"]
    if name not in config.datasets:
        raise DetectorError(f"{run_dir / GRID_CONFIG_FILE}: has no dataset '{name}' (the best cell's training set)")
    spec = config.transform_by_label().get(method["transform"])
    if spec is None:
        raise DetectorError(f"{run_dir / GRID_CONFIG_FILE}: has no transform '{method['transform']}'")
    within = config.protocols.within
    plan = TrainingPlan(
        dataset=config.datasets[name],
        dataset_name=name,
        backbone=method["backbone"],
        weights=config.weights.get(method["backbone"], "pretrained"),
        transform=spec,
        preprocess=config.preprocess,
        reduction=registry_name(method["reduction"]),
        reduction_params=dict(config.reductions.get(method["reduction"], {})),
        classifier=registry_name(method["classifier"]),
        classifier_params=dict(config.classifiers.get(method["classifier"], {})),
        validation_size=within.test_size if within else 0.2,
        seed=within.seeds[0] if within and within.seeds else config.seed,
        data_root=config.data_root,
        max_per_class=config.max_per_class,
        cache=config.cache,
        origin={"grid_run": str(run_dir.resolve()), "method": method, "mean_auc": mean_auc, "seeds": n_seeds},
    )
    given = {key: value for key, value in overrides.items() if value is not None}
    return TrainingPlan.model_validate({**plan.model_dump(), **given}) if given else plan

