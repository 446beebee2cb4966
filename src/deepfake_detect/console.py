"""Terminal output shared by the commands: one console, progress bars with images/s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(stderr=True)


class RateColumn(ProgressColumn):
    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} {self.unit}/s" if speed else f"- {self.unit}/s", style="cyan")


@contextmanager
def progress_bar(description: str, total: int, unit: str = "img") -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`: a live bar on a terminal, a plain line every ~10% in a log."""
    if not console.is_terminal:
        yield _log_progress(description, total, unit)
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(escape(description), total=total)
        yield lambda n: progress.advance(task, n)


def starting(message: str) -> None:
    """The first line of a long command, printed before anything heavy is imported or loaded,
    so a user sees within a second that it runs and what it will do."""
    console.print(f"[dim]{escape(message)}[/]", highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _log_progress(description: str, total: int, unit: str) -> Callable[[int], None]:
    started = time.perf_counter()
    state = {"done": 0, "next": max(total // 10, 1)}

    def advance(n: int) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] == total:
            state["next"] = state["done"] + max(total // 10, 1)
            rate = state["done"] / max(time.perf_counter() - started, 1e-9)
            console.print(f"{description}: {state['done']}/{total} ({rate:,.1f} {unit}/s)", highlight=False, markup=False)

    return advance


@contextmanager
def sized_progress(description: str, unit: str = "img") -> Iterator[Callable[[int, int], None]]:
    """Yields `advance(n, total)` for work that learns its size only once it starts.

    The first call sizes the bar (usually `advance(0, total)`); later calls advance it by `n`.
    """
    with ExitStack() as stack:
        state: dict[str, Callable[[int], None]] = {}

        def advance(n: int, total: int) -> None:
            if "bar" not in state:
                state["bar"] = stack.enter_context(progress_bar(description, total=total, unit=unit))
            if n:
                state["bar"](n)

        yield advance
