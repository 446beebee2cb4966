"""Evaluation protocols as data: which rows train a model and which rows test it.

Every protocol reduces to "fit on these rows of dataset A, score these rows of dataset B",
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
    """One training set (rows of one dataset) and the test sets scored by what it fits."""

    train_dataset: str
    train_rows: np.ndarray
    seed: int
    tests: list[TestSet] = field(default_factory=list)
    label: str = ""

    @property
    def protocol(self) -> str:
        return self.tests[0].protocol if self.tests else ""


def within_tasks(table: FeatureTable, test_size: float, seeds: list[int]) -> list[Task]:
    tasks = []
    for seed in seeds:
        train, test = split_by_id(table.y, table.ids, test_size, seed, table.groups)
        tasks.append(Task(table.dataset, train, seed, [TestSet("within", table.dataset, test)], "within"))
    return tasks


def cross_tasks(tables: dict[str, FeatureTable], seed: int) -> list[Task]:
    """Train on all of A, test on all of every other B: the generalization matrix."""
    tasks = []
    for name, table in tables.items():
        others = [TestSet("cross", other, np.arange(len(t.y))) for other, t in tables.items() if other != name]
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
