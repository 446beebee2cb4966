"""Progress of long work, reported through one seam that the program using the library chooses.

Library code opens `progress_bar(description, total)` and calls the `advance(n)` it yields; it
never prints. By default a plain line goes to the `deepfake_detect.progress` logger at most every
few seconds, so it is silent unless logging is configured, like every other message of the
library. The command line installs its own (rich bars on a terminal, plain lines in a pipe or a
log) with `use_progress`; a caller can pass any factory of the same shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int, str], AbstractContextManager[Advance]]

LINE_INTERVAL = 5.0
"""Seconds between two plain progress lines: a long job shows it is alive, a pipe or a log file
is not flooded with one line per image."""

log = logging.getLogger(__name__)
_installed: ProgressFactory | None = None


@contextmanager
def use_progress(factory: ProgressFactory) -> Iterator[None]:
    """Every `progress_bar` opened inside the block reports through `factory`."""
    global _installed
    previous, _installed = _installed, factory
    try:
        yield
    finally:
        _installed = previous


@contextmanager
def progress_bar(description: str, total: int, unit: str = "img") -> Iterator[Advance]:
    """Yields `advance(n)`, reporting through the installed factory (default: `logged_progress`)."""
    with (_installed or logged_progress)(description, total, unit) as advance:
        yield advance


def logged_progress(description: str, total: int, unit: str = "img") -> AbstractContextManager[Advance]:
    return throttled_progress(description, total, unit, lambda line: log.info("%s", line))


@contextmanager
def throttled_progress(
    description: str, total: int, unit: str, emit: Callable[[str], None],
    interval: float = LINE_INTERVAL, clock: Callable[[], float] = time.monotonic,
) -> Iterator[Advance]:
    """Plain lines `description: done/total (rate unit/s)`: at most one every `interval` seconds
    while the work runs, and one when it ends (unless that count was just shown)."""
    started = clock()
    state = {"done": 0, "shown": 0, "last": started}

    def line() -> None:
        now = clock()
        rate = state["done"] / max(now - started, 1e-9)
        emit(f"{description}: {state['done']}/{total} ({rate:,.1f} {unit}/s)")
        state["shown"], state["last"] = state["done"], now

    def advance(n: int) -> None:
        state["done"] += n
        if clock() - state["last"] >= interval:
            line()

    yield advance
    if state["done"] and state["shown"] != state["done"]:
        line()


@contextmanager
def sized_progress(description: str, unit: str = "img") -> Iterator[Callable[[int, int], None]]:
    """Yields `advance(n, total)` for work that learns its size only once it starts.

    The first call sizes the bar (usually `advance(0, total)`); later calls advance it by `n`.
    """
    with ExitStack() as stack:
        state: dict[str, Advance] = {}

        def advance(n: int, total: int) -> None:
            if "bar" not in state:
                state["bar"] = stack.enter_context(progress_bar(description, total=total, unit=unit))
            if n:
                state["bar"](n)

        yield advance
