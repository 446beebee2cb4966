"""The command line's terminal output: one console, progress bars with images/s, and the handler
that shows the library's log records. Only the CLI imports this module; the library logs
(`logging`) and reports progress through `deepfake_detect.progress`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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

from .progress import throttled_progress, use_progress

console = Console(stderr=True)
LIBRARY_LOGGER = "deepfake_detect"


class RateColumn(ProgressColumn):
    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} {self.unit}/s" if speed else f"- {self.unit}/s", style="cyan")


@contextmanager
def progress_bar(description: str, total: int, unit: str = "img") -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`: a live bar on a terminal; in a pipe or a log, a plain line every few
    seconds (not one per item). The CLI installs it for the library's progress (`cli_output`)."""
    if not console.is_terminal:
        with throttled_progress(description, total, unit, _plain_line) as advance:
            yield advance
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


def _plain_line(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


class ConsoleHandler(logging.Handler):
    """The library's log records as the command line has always shown them: warnings as a yellow
    `warning:` line, errors red, other messages plain."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        elif record.levelno >= logging.WARNING:
            warn(message)
        else:
            console.print(message, highlight=False, markup=False, soft_wrap=True)


@contextmanager
def cli_output() -> Iterator[None]:
    """For one command: the library's messages (INFO and up) and its progress on the console."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    handler, level = ConsoleHandler(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with use_progress(progress_bar):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
