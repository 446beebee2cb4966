"""The grid run: load datasets, extract features once per space, execute every protocol's
cells in worker processes, then write the results table, run.json and the report."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..grid.config import GridConfig, config_yaml, resolve_paths, transform_label
from ..progress import progress_bar
from ..data import Dataset, load_dataset
from ..evaluate.protocols import FeatureTable
from ..evaluate.shortcuts import shortcut_warnings
from ..features import FeatureCache, FeatureSpace, FusedSpace, load_features
from ..runs import Ledger
from ..runs.folder import RESULTS_CSV, write_config_text, write_results, write_run_info
from ..runtime import cpu_cores
from ..transforms import Degradation, TransformSpec
from .info import run_info
from .plan import Planner, protocol_tasks, protocol_warnings
from .robustness import run_robustness
from .workers import Unit, WorkerPool, by_classifier, classify_cells, reduce_unit

log = logging.getLogger(__name__)


class Grid:
    def __init__(self, config: GridConfig, run_dir: Path, jobs: int | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jobs = jobs or config.jobs or cpu_cores()
        self.ledger = Ledger(self.run_dir)
        self.planner = Planner(config, self.ledger.__contains__)
        self.bad_files: dict[str, str] = {}
        self.warnings: list[str] = []
        self._backbones: dict = {}
        """Built once per run and shared by the main and robustness phases."""
        self._pool = WorkerPool(self.jobs)

    # datasets and features

    def load_datasets(self) -> dict[str, Dataset]:
        config = self.config
        return {
            name: load_dataset(source, config.data_root, config.max_per_class, config.seed, name=name).check_usable()
            for name, source in config.datasets.items()
        }

    def extract(self, datasets: dict[str, Dataset], cache: FeatureCache, backbone_name: str, transform: TransformSpec,
                only: dict[str, Dataset] | None = None,
                degradation: Degradation | None = None) -> FeatureSpace | FusedSpace:
        """Features of every dataset (or `only` these) in one space, extracting what is missing.
        A fusion's space is its members' spaces side by side (each extracted as itself)."""
        from ..backbones import create_backbone
        from ..features.extract import extract_features, feature_space

        members = self.config.fusion_members(backbone_name)
        if members:
            parts = [self.extract(datasets, cache, m, transform, only, degradation) for m in members]
            return FusedSpace(backbone_name, tuple(parts))
        backbone = self._backbones.get(backbone_name)
        if backbone is None:
            backbone = create_backbone(backbone_name, self.config.weights_for(backbone_name))
            self._backbones[backbone_name] = backbone
        space = feature_space(backbone, transform, self.config.preprocess, degradation)
        for name, dataset in (only or datasets).items():
            todo = len(cache.missing(space, dataset.ids))
            if not todo:
                continue
            degraded = f" {degradation.kind} {degradation.level:g}" if degradation else ""
            with progress_bar(f"{backbone_name} [{transform_label(transform)}]{degraded} {name}", total=todo) as advance:
                report = extract_features(
                    dataset, backbone, cache, transform, self.config.preprocess, self.config.batch_size,
                    progress=advance, on_bad=log.warning, degradation=degradation,
                )
            self.bad_files.update(report.bad)
        return space

    def tables(self, datasets: dict[str, Dataset], space: FeatureSpace | FusedSpace,
               cache: FeatureCache) -> dict[str, FeatureTable]:
        tables = {}
        for name, dataset in datasets.items():
            X, y, ids, rows = load_features(dataset, space, cache)
            generators = np.array([dataset.records[i].generator or name for i in rows])
            groups = dataset.groups
            tables[name] = FeatureTable(name, X, y, ids, generators, [groups[i] for i in rows] if groups else None)
        return tables

    # execution

    def execute(self, units: list[Unit], label: str) -> None:
        """Two parallel phases: every reducer, then every (reduced set, classifier) job,
        so both cores stay busy even when a grid has a single training set. Each finished
        cell is in the ledger before the next result is awaited."""
        if not units:
            return
        total = sum(len(u.cells) for u in units)
        with progress_bar(label, total=total, unit="cell") as advance:
            reduced = list(self._pool.map(reduce_unit, [(u,) for u in units], ordered=True))
            jobs = [(r, cells, u.n_bootstrap, u.seed) for u, r in zip(units, reduced) for cells in by_classifier(u.cells)]
            for finished in self._pool.map(classify_cells, jobs):
                for row, labels, scores in finished:
                    self.ledger.append(row, labels, scores)
                advance(len(finished))

    # the run

    def run(self) -> pd.DataFrame:
        config = self.config
        started = time.perf_counter()
        # Paths still relative here are relative to the working directory (a config file's are
        # already resolved): the run's copy holds them absolute, so `train --from-grid RUN_DIR`
        # reads the same data from anywhere.
        write_config_text(self.run_dir, config_yaml(resolve_paths(config, Path.cwd())))
        datasets = self.load_datasets()
        for text in protocol_warnings(config):
            log.warning(text)
        for dataset in datasets.values():
            for text in shortcut_warnings(dataset):
                self.warnings.append(text)
                log.warning(text)
        with self._pool, FeatureCache(config.cache) as cache:
            for backbone_name in config.feature_sources():
                for transform in config.transforms:
                    label = transform_label(transform)
                    space = self.extract(datasets, cache, backbone_name, transform)
                    tables = self.tables(datasets, space, cache)
                    units = self.planner.units(space, backbone_name, label, tables, protocol_tasks(config, tables))
                    self.execute(units, f"{backbone_name} [{label}]")
            if config.protocols.robustness:
                run_robustness(self, datasets, cache)
            self._backbones.clear()
        if config.finetuned or config.reference:
            self.evaluate_finetuned(datasets)
        results = self.ledger.table(self.planner.planned)
        self.write(results, time.perf_counter() - started)
        return results

    def evaluate_finetuned(self, datasets: dict[str, Dataset]) -> None:
        """Fine-tuned and reference detectors on the grid's own test sets, into the same ledger."""
        from .detectors import evaluate_finetuned_detector

        for label, detector_dir in self.config.detector_entries():
            self.planner.planned += evaluate_finetuned_detector(Path(detector_dir), datasets, self.config, self.ledger,
                                                                label)

    def write(self, results: pd.DataFrame, seconds: float) -> None:
        write_results(self.run_dir, results)
        write_run_info(self.run_dir, run_info(self.config, seconds, self.bad_files, self.warnings))
        log.info(f"{len(results)} cells in {seconds:.0f}s -> {self.run_dir / RESULTS_CSV}")


def run_grid(config: GridConfig, run_dir: Path, jobs: int | None = None) -> pd.DataFrame:
    """Run every cell of `config` not yet in `run_dir`'s ledger; return the whole results table."""
    return Grid(config, run_dir, jobs).run()
