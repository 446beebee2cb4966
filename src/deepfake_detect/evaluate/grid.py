"""The experiment grid: datasets x transforms x backbones x reductions x classifiers, under
every protocol, into one results table.

Work is organised so nothing is done twice: features come from the cache (extracted once per
feature space), each reducer is fitted once per training set and shared by all classifiers,
and every finished cell is appended to `cells.jsonl` at once, so a restarted grid skips it.
Units of work (one training set x one reduction) run in parallel processes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import GridConfig, dump_config
from ..console import console, progress_bar, warn
from ..data import Dataset, load_dataset
from ..features import FeatureCache, FeatureSpace, load_features
from ..transforms import TransformSpec
from .metrics import compute_metrics
from .protocols import (
    FeatureTable,
    Task,
    TestSet,
    cross_tasks,
    leave_one_generator_out_tasks,
    within_tasks,
)
from .results import RESULT_COLUMNS, write_results
from .shortcuts import shortcut_warnings

# --- the ledger: finished cells on disk -------------------------------------------------------


class Ledger:
    """Finished cells, one JSON line each, plus their scores for ROC curves.

    Appending a line is the commit point of a cell: a crash mid-line leaves a partial last
    line, which is ignored on reading, so the worst case is redoing one cell.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.path = run_dir / "cells.jsonl"
        self.scores_dir = run_dir / "scores"
        self.scores_dir.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.rows[row["cell_id"]] = row
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def done(self, cell_id: str) -> bool:
        return cell_id in self.rows

    def record(self, row: dict, y_true: np.ndarray, scores: np.ndarray) -> None:
        tmp = self.scores_dir / f".{row['cell_id']}.tmp.npz"
        np.savez_compressed(tmp, y_true=y_true.astype(np.int8), score=scores.astype(np.float32))
        os.replace(tmp, self.scores_dir / f"{row['cell_id']}.npz")
        with self.path.open("a") as handle:
            handle.write(json.dumps(row, default=_json_default) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.rows[row["cell_id"]] = row

    def table(self, cell_ids: Iterable[str]) -> pd.DataFrame:
        rows = [self.rows[c] for c in dict.fromkeys(cell_ids) if c in self.rows]
        return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(type(value).__name__)


def cell_id(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- units of work ----------------------------------------------------------------------------


@dataclass
class Unit:
    """One reducer fitted on one training set; every classifier then fits on its output."""

    X_train: np.ndarray
    y_train: np.ndarray
    tests: list[tuple[np.ndarray, np.ndarray]]
    reduction: str
    reduction_params: dict
    cells: list[dict]
    """Per cell: base result row (with cell_id), classifier name + params, test index."""
    n_bootstrap: int
    seed: int


@dataclass
class Reduced:
    """A unit's features after its reducer: what the classifier jobs share."""

    Z_train: np.ndarray
    y_train: np.ndarray
    tests: list[tuple[np.ndarray, np.ndarray]]
    seconds: float


def _in_worker(function: Callable, *arguments: Any) -> Any:
    """Run a job in a worker process with one torch thread: the parallelism is across jobs,
    and nested thread pools on the same cores only contend (joblib caps BLAS/OpenMP itself)."""
    import torch

    torch.set_num_threads(1)
    return function(*arguments)


def reduce_unit(unit: Unit) -> Reduced:
    """Runs in a worker process: fit the reducer on the training rows only."""
    from ..reduce import create_reducer

    started = time.perf_counter()
    reducer = create_reducer(unit.reduction, **unit.reduction_params).fit(unit.X_train, unit.y_train)
    tests = [(reducer.transform(X), y) for X, y in unit.tests]
    return Reduced(reducer.transform(unit.X_train), unit.y_train, tests, time.perf_counter() - started)


def classify_cells(reduced: Reduced, cells: list[dict], n_bootstrap: int, seed: int) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """Runs in a worker process: fit one classifier, score each of its test sets."""
    from ..classify import create_classifier, fake_scores

    started = time.perf_counter()
    model = create_classifier(cells[0]["classifier"], **cells[0]["classifier_params"]).fit(reduced.Z_train, reduced.y_train)
    fit_seconds = time.perf_counter() - started + reduced.seconds
    finished = []
    for cell in cells:
        Z_test, y_test = reduced.tests[cell["test_index"]]
        started = time.perf_counter()
        scores = fake_scores(model, Z_test)
        predict_seconds = time.perf_counter() - started
        metrics = compute_metrics(y_test, scores, n_bootstrap=n_bootstrap, seed=seed)
        row = {
            **cell["row"], **metrics,
            "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "n_train": int(len(reduced.y_train)), "n_test": int(len(y_test)),
        }
        finished.append(({k: row.get(k) for k in RESULT_COLUMNS}, y_test, scores))
    return finished


def by_classifier(cells: list[dict]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = {}
    for cell in cells:
        key = cell["classifier"] + json.dumps(cell["classifier_params"], sort_keys=True)
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


# --- the grid ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    backbone: str
    transform: TransformSpec
    reduction: str
    classifier: str


class Grid:
    def __init__(self, config: GridConfig, run_dir: Path, jobs: int | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jobs = jobs or config.jobs or os.cpu_count() or 1
        self.ledger = Ledger(self.run_dir)
        self.planned: list[str] = []
        self.bad_files: dict[str, str] = {}
        self.warnings: list[str] = []
        self._backbones: dict = {}
        """Built once per run and shared by the main and robustness phases."""

    # datasets and features

    def load_datasets(self) -> dict[str, Dataset]:
        config = self.config
        datasets = {}
        for name, source in config.datasets.items():
            datasets[name] = load_dataset(source, config.data_root, config.max_per_class, config.seed, name=name).check_usable()
        return datasets

    def extract(self, datasets: dict[str, Dataset], cache: FeatureCache, backbone_name: str,
                transform: TransformSpec, only: dict[str, Dataset] | None = None) -> FeatureSpace:
        from ..backbones import create_backbone
        from ..features.extract import extract_features, feature_space

        backbone = self._backbones.get(backbone_name)
        if backbone is None:
            backbone = create_backbone(backbone_name, self.config.weights.get(backbone_name, "pretrained"))
            self._backbones[backbone_name] = backbone
        space = feature_space(backbone, transform, self.config.preprocess)
        for name, dataset in (only or datasets).items():
            todo = len(cache.missing(space, dataset.ids))
            if not todo:
                continue
            label = f"{backbone_name} [{_transform_label(transform)}] {name}"
            with progress_bar(label, total=todo) as advance:
                report = extract_features(
                    dataset, backbone, cache, transform, self.config.preprocess, self.config.batch_size,
                    progress=advance, on_bad=warn,
                )
            self.bad_files.update(report.bad)
        return space

    def tables(self, datasets: dict[str, Dataset], space: FeatureSpace, cache: FeatureCache) -> dict[str, FeatureTable]:
        tables = {}
        for name, dataset in datasets.items():
            X, y, ids, rows = load_features(dataset, space, cache)
            generators = np.array([dataset.records[i].generator or name for i in rows])
            tables[name] = FeatureTable(name, X, y, ids, generators)
        return tables

    # planning

    def tasks(self, tables: dict[str, FeatureTable]) -> list[Task]:
        protocols = self.config.protocols
        tasks: list[Task] = []
        if protocols.within:
            for table in tables.values():
                tasks += within_tasks(table, protocols.within.test_size, protocols.within.seeds)
        if protocols.cross:
            tasks += cross_tasks(tables, self.config.seed)
        if protocols.logo:
            for table in tables.values():
                tasks += leave_one_generator_out_tasks(table, self.config.seed)
        return tasks

    def cell_parts(self, space: FeatureSpace, task: Task, test: TestSet, reduction: str, classifier: str) -> dict:
        config = self.config
        return dict(
            protocol=test.protocol, train=task.train_dataset, test=test.dataset, perturbation=test.perturbation,
            level=None if math.isnan(test.level) else test.level, space=space.key, seed=task.seed,
            reduction=reduction, reduction_params=config.reductions[reduction],
            classifier=classifier, classifier_params=config.classifiers[classifier],
            test_size=config.protocols.within.test_size if config.protocols.within else None,
            max_per_class=config.max_per_class, label=task.label, sources=config.datasets.get(task.train_dataset),
        )

    def units(self, space: FeatureSpace, method_of: Callable[[str, str], Method], tables: dict[str, FeatureTable],
              tasks: list[Task], test_tables: Callable[[TestSet], FeatureTable] | None = None) -> list[Unit]:
        """Units for the cells not yet done; every planned cell id is remembered."""
        units = []
        for task in tasks:
            train = tables[task.train_dataset]
            tests = [(test_tables or (lambda t: tables[t.table]))(t) for t in task.tests]
            for reduction in self.config.reductions:
                cells = []
                for classifier in self.config.classifiers:
                    method = method_of(reduction, classifier)
                    if method is None:
                        continue
                    for index, (test, table) in enumerate(zip(task.tests, tests)):
                        cid = cell_id(**self.cell_parts(space, task, test, reduction, classifier))
                        self.planned.append(cid)
                        if self.ledger.done(cid):
                            continue
                        cells.append({
                            "classifier": classifier,
                            "classifier_params": self.config.classifiers[classifier],
                            "test_index": index,
                            "row": self.base_row(cid, task, test, method),
                        })
                if cells:
                    units.append(Unit(
                        train.X[task.train_rows], train.y[task.train_rows],
                        [(table.X[test.rows], table.y[test.rows]) for test, table in zip(task.tests, tests)],
                        reduction, self.config.reductions[reduction], cells, self.config.bootstrap, task.seed,
                    ))
        return units

    def base_row(self, cid: str, task: Task, test: TestSet, method: Method) -> dict:
        return {
            "cell_id": cid, "approach": "features", "protocol": test.protocol,
            "train_dataset": task.train_dataset, "test_dataset": test.dataset,
            "perturbation": test.perturbation, "level": test.level,
            "transform": _transform_label(method.transform), "backbone": method.backbone,
            "reduction": method.reduction, "classifier": method.classifier, "seed": task.seed,
        }

    def execute(self, units: list[Unit], label: str) -> None:
        """Two parallel phases: every reducer, then every (reduced set, classifier) job,
        so both cores stay busy even when a grid has a single training set."""
        if not units:
            return
        total = sum(len(u.cells) for u in units)
        with progress_bar(label, total=total, unit="cell") as advance:
            reduced = list(self.parallel(reduce_unit, [(u,) for u in units], ordered=True))
            jobs = [(r, cells, u.n_bootstrap, u.seed) for u, r in zip(units, reduced) for cells in by_classifier(u.cells)]
            for finished in self.parallel(classify_cells, jobs):
                for row, y_true, scores in finished:
                    self.ledger.record(row, y_true, scores)
                advance(len(finished))

    def parallel(self, function: Callable, argument_lists: list[tuple], ordered: bool = False) -> Iterable:
        if self.jobs == 1 or len(argument_lists) == 1:
            return (function(*arguments) for arguments in argument_lists)
        from joblib import Parallel, delayed

        return Parallel(n_jobs=min(self.jobs, len(argument_lists)), return_as="generator" if ordered else "generator_unordered")(
            delayed(_in_worker)(function, *arguments) for arguments in argument_lists
        )

    # the run

    def run(self) -> pd.DataFrame:
        config = self.config
        started = time.perf_counter()
        dump_config(config, self.run_dir / "config.yaml")
        datasets = self.load_datasets()
        for dataset in datasets.values():
            for text in shortcut_warnings(dataset):
                self.warnings.append(text)
                warn(text)
        with FeatureCache(config.cache) as cache:
            for backbone_name in config.backbones:
                for transform in config.transforms:
                    space = self.extract(datasets, cache, backbone_name, transform)
                    tables = self.tables(datasets, space, cache)
                    method_of = lambda r, c, b=backbone_name, t=transform: Method(b, t, r, c)  # noqa: E731
                    units = self.units(space, method_of, tables, self.tasks(tables))
                    self.execute(units, f"{backbone_name} [{_transform_label(transform)}]")
            if config.protocols.robustness:
                self.robustness(datasets, cache)
            self._backbones.clear()
        if config.finetuned:
            self.evaluate_finetuned(datasets)
        results = self.ledger.table(self.planned)
        self.write(results, time.perf_counter() - started)
        return results

    def robustness(self, datasets: dict[str, Dataset], cache: FeatureCache) -> None:
        """Retrain the best methods on the within split and score perturbed test images."""
        options = self.config.protocols.robustness
        within = self.ledger.table(self.planned)
        within = within[(within.protocol == "within") & (within.perturbation == "none")]
        if within.empty:
            warn("robustness needs the within protocol's results to pick methods; skipped")
            return
        keys = ["backbone", "transform", "reduction", "classifier"]
        ranked = within.groupby(keys)["auc"].mean().sort_values(ascending=False)
        chosen = list(ranked.index[: options.top] if options.top else ranked.index)
        names = options.datasets or list(datasets)
        seed = self.config.protocols.within.seeds[0]
        levels = [("jpeg", q) for q in options.jpeg] + [("blur", s) for s in options.blur] + [
            ("downscale", f) for f in options.downscale
        ]
        transforms = {_transform_label(t): t for t in self.config.transforms}
        for backbone_name, transform_label in dict.fromkeys((b, t) for b, t, _, _ in chosen):
            transform = transforms[transform_label]
            space = self.extract(datasets, cache, backbone_name, transform, only={n: datasets[n] for n in names})
            tables = {n: t for n, t in self.tables({n: datasets[n] for n in names}, space, cache).items()}
            perturbed: dict[tuple[str, str, float], FeatureTable] = {}
            tasks = []
            for name in names:
                task = within_tasks(tables[name], self.config.protocols.within.test_size, [seed])[0]
                test_rows = task.tests[0].rows
                subset = _subset(datasets[name], [tables[name].ids[i] for i in test_rows])
                task.tests = []
                for kind, level in levels:
                    degraded = transform.degraded(kind, level)
                    degraded_space = self.extract(datasets, cache, backbone_name, degraded, only={name: subset})
                    X, y, ids, _ = load_features(subset, degraded_space, cache)
                    perturbed[(name, kind, float(level))] = FeatureTable(name, X, y, ids, np.array([name] * len(y)))
                    task.tests.append(TestSet("robustness", name, np.arange(len(y)), kind, float(level)))
                task.label = "robustness"
                tasks.append(task)
            picked = {(r, c) for b, t, r, c in chosen if (b, t) == (backbone_name, transform_label)}
            method_of = lambda r, c, b=backbone_name, t=transform: Method(b, t, r, c) if (r, c) in picked else None  # noqa: E731
            units = self.units(space, method_of, tables, tasks,
                               test_tables=lambda test: perturbed[(test.dataset, test.perturbation, test.level)])
            self.execute(units, f"robustness {backbone_name} [{transform_label}]")

    def evaluate_finetuned(self, datasets: dict[str, Dataset]) -> None:
        from .finetuned import evaluate_finetuned_detector

        for detector_dir in self.config.finetuned:
            for row, y_true, scores in evaluate_finetuned_detector(
                Path(detector_dir), datasets, self.config, self.ledger.done
            ):
                self.planned.append(row["cell_id"])
                if not self.ledger.done(row["cell_id"]):
                    self.ledger.record(row, y_true, scores)

    def write(self, results: pd.DataFrame, seconds: float) -> None:
        from ..report import write_report

        write_results(results, self.run_dir)
        (self.run_dir / "run.json").write_text(json.dumps(run_metadata(self.config, seconds, self.bad_files, self.warnings), indent=2))
        html, markdown = write_report(self.run_dir)
        console.print(f"{len(results)} cells in {seconds:.0f}s -> {self.run_dir / 'results.csv'}\nreport: {html}")


def _transform_label(spec: TransformSpec) -> str:
    return spec.name


def _subset(dataset: Dataset, ids: list[str]) -> Dataset:
    """The records with these image ids, one record per id."""
    wanted = set(ids)
    records, kept = [], []
    for record, image_id in zip(dataset.records, dataset.ids):
        if image_id in wanted:
            wanted.discard(image_id)
            records.append(record)
            kept.append(image_id)
    return Dataset(dataset.name, records, kept)


def run_metadata(config: GridConfig, seconds: float, bad_files: dict[str, str], warnings: list[str]) -> dict:
    import sklearn
    import torch

    from .. import __version__

    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(seconds, 1),
        "seed": config.seed,
        "split_seeds": config.protocols.within.seeds if config.protocols.within else [],
        "preprocess": config.preprocess,
        "versions": {
            "deepfake_detect": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__,
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {'CUDA' if torch.cuda.is_available() else 'CPU only'}",
        "unreadable_files": bad_files,
        "shortcut_warnings": warnings,
    }


def run_grid(config: GridConfig, run_dir: Path, jobs: int | None = None) -> pd.DataFrame:
    return Grid(config, run_dir, jobs).run()
