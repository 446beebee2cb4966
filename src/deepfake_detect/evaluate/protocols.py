"""Evaluation protocols as data: which rows train a model and which rows test it.

Every protocol reduces to "fit on these rows of dataset A (or of several pooled), score these rows of dataset B",
so the grid runs them all through one loop and one results table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .splits import split_by_id


@dataclass
class FeatureTable:
    """A dataset's cached features in one feature space."""

    dataset: str
    X: np.ndarray
    y: np.ndarray
    ids: list[str]
    generators: np.ndarray
    groups: list[str | None] | None = None
    """Rows made from one source share a group and stay on one side of a split."""
    pooled: tuple[str, ...] = ()
    """The datasets whose rows `pool_tables` joined into this one (empty for a dataset's own)."""


@dataclass(frozen=True)
class TestSet:
    protocol: str
    dataset: str
    """The name results report; for leave-one-generator-out, the held-out generator."""
    rows: np.ndarray
    perturbation: str = "none"
    level: float = float("nan")
    source: str = ""
    """The dataset whose feature rows these are, when not `dataset`."""

    @property
    def table(self) -> str:
        return self.source or self.dataset


@dataclass
class Task:
    """One training set (rows of one dataset, or of a pooled table) and the test sets scored by what it fits."""

    train_dataset: str
    train_rows: np.ndarray
    seed: int
    tests: list[TestSet] = field(default_factory=list)
    label: str = ""
    train_table: FeatureTable | None = None
    """The rows to train on when they are no dataset's own (leave-one-dataset-out pools them);
    None: the table of `train_dataset`."""

    @property
    def protocol(self) -> str:
        return self.tests[0].protocol if self.tests else ""

    @property
    def pooled(self) -> tuple[str, ...]:
        """The datasets pooled into the training table; empty when it is one dataset's own."""
        return self.train_table.pooled if self.train_table else ()


def within_tasks(table: FeatureTable, test_size: float, seeds: list[int]) -> list[Task]:
    tasks = []
    for seed in seeds:
        train, test = split_by_id(table.y, table.ids, test_size, seed, table.groups)
        tasks.append(Task(table.dataset, train, seed, [TestSet("within", table.dataset, test)], "within"))
    return tasks


def cross_tasks(tables: dict[str, FeatureTable], seed: int, pairs: dict[str, list[str]] | None = None) -> list[Task]:
    """Train on all of A, test on all of every other B: the generalization matrix.

    `pairs` (train -> tests) keeps only those cells of the matrix.
    """
    tasks = []
    for name, table in tables.items():
        wanted = (lambda other: other != name) if pairs is None else (lambda other: other in pairs.get(name, ()))
        others = [TestSet("cross", other, np.arange(len(t.y))) for other, t in tables.items() if wanted(other)]
        if others:
            tasks.append(Task(name, np.arange(len(table.y)), seed, others, "cross"))
    return tasks


def leave_one_generator_out_tasks(table: FeatureTable, seed: int) -> list[Task]:
    """Hold out each generator (its real and fake images) in turn; needs two or more."""
    generators = sorted(set(table.generators.tolist()))
    if len(generators) < 2:
        return []
    tasks = []
    for held_out in generators:
        test = np.flatnonzero(table.generators == held_out)
        train = np.flatnonzero(table.generators != held_out)
        if len(set(table.y[train].tolist())) < 2 or len(set(table.y[test].tolist())) < 2:
            continue
        tests = [TestSet("logo", held_out, test, source=table.dataset)]
        tasks.append(Task(table.dataset, train, seed, tests, f"logo:{held_out}"))
    return tasks


LODO_PREFIX = "all-but-"
"""A leave-one-dataset-out training set is named `all-but-<held-out dataset>`."""


def pool_tables(name: str, tables: list[FeatureTable]) -> FeatureTable:
    """The rows of several tables as one, each row keeping its id, generator and group.

    Groups stay None only when no table has any; a table without them contributes None per row
    (a row of its own), as it would alone.
    """
    if not tables:
        raise ValueError(f"{name}: nothing to pool")
    grouped = any(t.groups is not None for t in tables)
    return FeatureTable(
        dataset=name,
        X=np.concatenate([t.X for t in tables]),
        y=np.concatenate([t.y for t in tables]),
        ids=[image_id for t in tables for image_id in t.ids],
        generators=np.concatenate([t.generators for t in tables]),
        groups=[g for t in tables for g in (t.groups or [None] * len(t.y))] if grouped else None,
        pooled=tuple(t.dataset for t in tables),
    )


def leave_one_dataset_out_tasks(tables: dict[str, FeatureTable], seed: int) -> list[Task]:
    """Hold out each dataset in turn: train on all the others pooled, test on all of it.

    Needs three or more datasets (with two, this is the cross protocol).
    """
    if len(tables) < 3:
        return []
    tasks = []
    for held_out, table in tables.items():
        pooled = pool_tables(LODO_PREFIX + held_out, [t for name, t in tables.items() if name != held_out])
        tests = [TestSet("lodo", held_out, np.arange(len(table.y)))]
        tasks.append(Task(pooled.dataset, np.arange(len(pooled.y)), seed, tests, f"lodo:{held_out}", pooled))
    return tasks
