"""The robustness protocol: retrain the best methods on the within split, then score the
same test images after JPEG re-encoding, blur and downscaling (UniversalFakeDetect, SIDBench).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..data import Dataset
from ..evaluate.protocols import FeatureTable, TestSet, within_tasks
from ..features import FeatureCache, load_features
from ..runs.schema import higher_is_better
from ..transforms import Degradation
from ..grid.config import GridConfig
from ..runs import Ledger
from ..transforms import TransformSpec
from .plan import Method, Planner
from .workers import Unit

log = logging.getLogger(__name__)


class GridSteps(Protocol):
    """What the robustness phase uses of a running grid (`grid.run.Grid` is one)."""

    config: GridConfig
    ledger: Ledger
    planner: Planner

    def extract(self, datasets: dict[str, Dataset], cache: FeatureCache, backbone_name: str, transform: TransformSpec,
                **options: Any) -> Any: ...

    def tables(self, datasets: dict[str, Dataset], space: Any, cache: FeatureCache) -> dict[str, FeatureTable]: ...

    def execute(self, units: list[Unit], label: str) -> None: ...

RANKED_BY = "auc"
METHOD_KEYS = ["backbone", "transform", "reduction", "classifier"]


def best_methods(within: pd.DataFrame, top: int | None) -> list[Method]:
    """The `top` methods by mean within-dataset AUC on clean images (all when None)."""
    rows = within[(within.protocol == "within") & (within.perturbation == "none")]
    ranked = rows.groupby(METHOD_KEYS)[RANKED_BY].mean().sort_values(ascending=not higher_is_better(RANKED_BY))
    chosen = ranked.index[:top] if top else ranked.index
    return [Method(*keys) for keys in chosen]


def run_robustness(grid: GridSteps, datasets: dict[str, Dataset], cache: FeatureCache) -> None:
    """Plan and run the robustness cells of the best methods."""
    config = grid.config
    options, within = config.protocols.robustness, config.protocols.within
    chosen = best_methods(grid.ledger.table(grid.planner.planned), options.top)
    if not chosen:
        log.warning("robustness needs the within protocol's results to pick methods; skipped")
        return
    names = options.datasets or list(datasets)
    seed = within.seeds[0]
    transforms = config.transform_by_label()
    for backbone, transform_label in dict.fromkeys((m.backbone, m.transform) for m in chosen):
        transform = transforms[transform_label]
        only = {n: datasets[n] for n in names}
        space = grid.extract(datasets, cache, backbone, transform, only=only)
        tables = grid.tables(only, space, cache)
        perturbed: dict[tuple[str, str, float], FeatureTable] = {}
        tasks = []
        for name in names:
            task = within_tasks(tables[name], within.test_size, [seed])[0]
            subset = _subset(datasets[name], [tables[name].ids[i] for i in task.tests[0].rows])
            task.tests = []
            for kind, level in options.levels():
                degradation = Degradation(kind=kind, level=level)
                degraded = grid.extract(datasets, cache, backbone, transform, only={name: subset}, degradation=degradation)
                X, y, ids, _ = load_features(subset, degraded, cache)
                perturbed[(name, kind, level)] = FeatureTable(name, X, y, ids, np.array([name] * len(y)))
                task.tests.append(TestSet("robustness", name, np.arange(len(y)), kind, level))
            task.label = "robustness"
            tasks.append(task)
        picked = {m for m in chosen if (m.backbone, m.transform) == (backbone, transform_label)}
        units = grid.planner.units(
            space, backbone, transform_label, tables, tasks, wanted=picked.__contains__,
            test_table=lambda test: perturbed[(test.dataset, test.perturbation, test.level)],
        )
        grid.execute(units, f"robustness {backbone} [{transform_label}]")


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
