"""The grid's worker processes, and the two jobs they run: fit a reducer, fit a classifier.

Workers never outlive the grid: on Linux the kernel kills each one when its parent dies
(PR_SET_PDEATHSIG), and everywhere a watchdog thread exits a worker whose parent is gone. So a
killed grid (SIGKILL, OOM killer) leaves no ~1 GB orphans behind. Workers ignore Ctrl-C: the
parent catches it, kills them and lets KeyboardInterrupt reach the command line, which says
that finished work is saved.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..evaluate.metrics import compute_metrics

PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>."""
WATCHDOG_SECONDS = 1.0


# --- the jobs ---------------------------------------------------------------------------------


@dataclass
class Unit:
    """One reducer fitted on one training set; every classifier then fits on its output."""

    X_train: np.ndarray
    y_train: np.ndarray
    tests: list[tuple[np.ndarray, np.ndarray]]
    reducer: str
    reducer_params: dict
    cells: list[dict]
    """Per cell: base result row (with cell_id), classifier name + params, test index."""
    n_bootstrap: int
    seed: int
    part_dims: tuple[int, ...] = ()
    """A fusion's part lengths: each part is standardised and balanced before the reducer."""


@dataclass
class Reduced:
    """A unit's features after its reducer: what the classifier jobs share."""

    Z_train: np.ndarray
    y_train: np.ndarray
    tests: list[tuple[np.ndarray, np.ndarray]]
    seconds: float


def reduce_unit(unit: Unit) -> Reduced:
    """Fit the reducer on the training rows only; transform training and test rows. A fusion's
    rows go through its `PartScaler` first, fitted on the training rows too."""
    from ..reduce import create_reducer

    from ..features.fusion import PartScaler

    started = time.perf_counter()
    scale = PartScaler(unit.part_dims).fit(unit.X_train).transform if unit.part_dims else (lambda X: X)
    X_train = scale(unit.X_train)
    reducer = create_reducer(unit.reducer, **unit.reducer_params).fit(X_train, unit.y_train)
    tests = [(reducer.transform(scale(X)), y) for X, y in unit.tests]
    return Reduced(reducer.transform(X_train), unit.y_train, tests, time.perf_counter() - started)


def classify_cells(reduced: Reduced, cells: list[dict], n_bootstrap: int, seed: int) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """Fit one classifier, score each of its test sets: (row, labels, scores) per cell."""
    from ..classify import create_classifier, fake_scores

    started = time.perf_counter()
    with _cell_errors(cells[0], len(reduced.y_train)):
        model = create_classifier(cells[0]["classifier"], **cells[0]["classifier_params"]).fit(reduced.Z_train, reduced.y_train)
    fit_seconds = time.perf_counter() - started + reduced.seconds
    finished = []
    for cell in cells:
        Z_test, y_test = reduced.tests[cell["test_index"]]
        started = time.perf_counter()
        with _cell_errors(cell, len(reduced.y_train)):
            scores = fake_scores(model, Z_test)
        predict_seconds = time.perf_counter() - started
        metrics = compute_metrics(y_test, scores, n_bootstrap=n_bootstrap, seed=seed)
        row = {
            **cell["row"], **metrics,
            "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "n_train": int(len(reduced.y_train)), "n_test": int(len(y_test)),
        }
        finished.append((row, y_test, scores))
    return finished


@contextmanager
def _cell_errors(cell: dict, n_train: int) -> Iterator[None]:
    """A parameter that does not fit this cell's data (knn's n_neighbors above the training rows)
    is one line naming the cell; finished cells stay in the ledger for the rerun."""
    try:
        yield
    except ValueError as exc:
        row = cell["row"]
        where = f"{row.get('classifier')} on {row.get('backbone')} / {row.get('train_dataset')}"
        raise ConfigError(f"grid cell {where} ({n_train} training rows): {' '.join(str(exc).split())[:300]}") from None


def by_classifier(cells: list[dict]) -> list[list[dict]]:
    """Cells that share a classifier label share one fit."""
    groups: dict[str, list[dict]] = {}
    for cell in cells:
        groups.setdefault(cell["label"], []).append(cell)
    return list(groups.values())


# --- the worker processes ---------------------------------------------------------------------


def _start_worker(parent_pid: int) -> None:
    """Initializer of each worker: die with the parent, ignore Ctrl-C, one thread for torch.

    The parallelism is across jobs; nested thread pools on the same cores only contend.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True, name="parent-watchdog").start()
    import torch

    torch.set_num_threads(1)


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_SECONDS)
    os._exit(1)


class WorkerPool:
    """Runs jobs in `jobs` worker processes (or in this process when one is enough)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._executor: ProcessPoolExecutor | None = None

    def map(self, function: Callable, argument_lists: list[tuple], ordered: bool = False) -> Iterator[Any]:
        """Results of `function(*arguments)`, in order or as they finish.

        On any exception (KeyboardInterrupt included) the workers are killed and the
        exception goes on: finished results were already handed out.
        """
        if self.jobs == 1 or len(argument_lists) <= 1:
            yield from (function(*arguments) for arguments in argument_lists)
            return
        executor = self._pool()
        futures = [executor.submit(function, *arguments) for arguments in argument_lists]
        try:
            yield from (_in_order(futures) if ordered else _as_finished(futures))
        except BaseException:
            self.kill()
            raise

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            import multiprocessing

            self._executor = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(os.getpid(),),
            )
        return self._executor

    def kill(self) -> None:
        """Stop every worker now; jobs in flight are lost (they were not recorded)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # The executor has no public way to stop running jobs; its worker processes do.
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()
        executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind, *_: object) -> None:
        self.kill() if kind is not None else self.close()


def _in_order(futures: list[Future]) -> Iterable[Any]:
    for future in futures:
        yield future.result()


def _as_finished(futures: list[Future]) -> Iterable[Any]:
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()
