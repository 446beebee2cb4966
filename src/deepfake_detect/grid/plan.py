"""Planning: which cells a grid has, their ids, and the units of work for those not yet done.

A cell is one (method, training set, test set); its id hashes everything that decides its
result, so a restarted grid recognises what it finished. Methods are identified by labels
(`svm_rbf@C=3`, `blur(sigma=1-3)`), never by registry names alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..grid.config import GridConfig, Step
from ..evaluate.protocols import (
    FeatureTable,
    Task,
    TestSet,
    cross_tasks,
    leave_one_dataset_out_tasks,
    leave_one_generator_out_tasks,
    within_tasks,
)
from ..features import FeatureSpace, FusedSpace
from ..features.fusion import part_dims
from ..runs import cell_id
from .workers import Unit


@dataclass(frozen=True)
class Method:
    """A feature-based method by its labels: the columns that identify it in results."""

    backbone: str
    transform: str
    reduction: str
    classifier: str


MethodFilter = Callable[[Method], bool]


def protocol_tasks(config: GridConfig, tables: dict[str, FeatureTable]) -> list[Task]:
    """Every training set of the within, cross, leave-one-generator-out and leave-one-dataset-out protocols."""
    protocols = config.protocols
    tasks: list[Task] = []
    if protocols.within:
        for table in tables.values():
            tasks += within_tasks(table, protocols.within.test_size, protocols.within.seeds)
    if protocols.cross:
        tasks += cross_tasks(tables, config.seed, protocols.cross if isinstance(protocols.cross, dict) else None)
    if protocols.logo:
        for table in tables.values():
            tasks += leave_one_generator_out_tasks(table, config.seed)
    if protocols.lodo:
        tasks += leave_one_dataset_out_tasks(tables, config.seed)
    return tasks


def protocol_warnings(config: GridConfig) -> list[str]:
    """What a config asks for that its datasets cannot give (said once, before the run)."""
    if config.protocols.lodo and len(config.datasets) < 3:
        return [f"leave-one-dataset-out needs three or more datasets (this grid has {len(config.datasets)}; "
                "the cross protocol covers two): no lodo cells"]
    return []


def train_sources(config: GridConfig, task: Task) -> str | list[str] | dict | None:
    """What the training rows were read from: the dataset's sources, or each pooled dataset's."""
    if task.pooled:
        return {name: config.datasets.get(name) for name in task.pooled}
    return config.datasets.get(task.train_dataset)


def cell_fields(config: GridConfig, space: FeatureSpace | FusedSpace, task: Task, test: TestSet, reduction: Step,
                classifier: Step) -> dict:
    """Everything that decides a cell's result (its id is their hash).

    A label that differs from its registry name is part of it too, so the same estimator
    listed twice under two labels gives two cells (and plain names keep their old ids).
    """
    labels = {f"{kind}_label": step.label for kind, step in (("reduction", reduction), ("classifier", classifier))
              if step.label != step.name}
    return labels | dict(
        protocol=test.protocol, train=task.train_dataset, test=test.dataset, perturbation=test.perturbation,
        level=None if math.isnan(test.level) else test.level, space=space.key, seed=task.seed,
        reduction=reduction.name, reduction_params=reduction.params,
        classifier=classifier.name, classifier_params=classifier.params,
        test_size=config.protocols.within.test_size if config.protocols.within else None,
        max_per_class=config.max_per_class, label=task.label, sources=train_sources(config, task),
    )


def base_row(cid: str, task: Task, test: TestSet, method: Method) -> dict:
    """The key columns of a cell's results row."""
    return {
        "cell_id": cid, "approach": "features", "protocol": test.protocol,
        "train_dataset": task.train_dataset, "test_dataset": test.dataset,
        "perturbation": test.perturbation, "level": test.level,
        "transform": method.transform, "backbone": method.backbone,
        "reduction": method.reduction, "classifier": method.classifier, "seed": task.seed,
    }


class Planner:
    """Turns tasks into units of work, remembering every planned cell id (in order)."""

    def __init__(self, config: GridConfig, done: Callable[[str], bool]):
        self.config = config
        self.done = done
        self.planned: list[str] = []

    def units(self, space: FeatureSpace | FusedSpace, backbone: str, transform: str, tables: dict[str, FeatureTable],
              tasks: list[Task], wanted: MethodFilter = lambda method: True,
              test_table: Callable[[TestSet], FeatureTable] | None = None) -> list[Unit]:
        """Units for the cells not yet done; a cell's test rows come from `test_table`."""
        config = self.config
        units = []
        for task in tasks:
            train = task.train_table or tables[task.train_dataset]
            test_tables = [(test_table or (lambda t: tables[t.table]))(t) for t in task.tests]
            for reduction in config.reduction_steps():
                cells = []
                for classifier in config.classifier_steps():
                    method = Method(backbone, transform, reduction.label, classifier.label)
                    if not wanted(method):
                        continue
                    for index, test in enumerate(task.tests):
                        cid = cell_id(cell_fields(config, space, task, test, reduction, classifier))
                        self.planned.append(cid)
                        if self.done(cid):
                            continue
                        cells.append({
                            "label": classifier.label, "classifier": classifier.name,
                            "classifier_params": classifier.params, "test_index": index,
                            "row": base_row(cid, task, test, method),
                        })
                if cells:
                    units.append(Unit(
                        train.X[task.train_rows], train.y[task.train_rows],
                        [(table.X[test.rows], table.y[test.rows]) for test, table in zip(task.tests, test_tables)],
                        reduction.name, reduction.params, cells, config.bootstrap, task.seed, part_dims(space),
                    ))
        return units
