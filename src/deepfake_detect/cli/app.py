"""The one Typer app and the one dispatcher that turns outcomes into exit statuses.

Every command raises `errors.UserError` (or a pydantic `ValidationError` from a config) for a
problem the user can fix and returns an `ExitStatus`; `run` is the only place that decides how
those look: one red line and exit 2, 1 for a partial result, 130 for Ctrl-C, and a traceback
for anything else, because anything else is a bug to report.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence

import typer
from rich.markup import escape

from ..console import console
from ..errors import ExitStatus, Interrupted, UserError

app = typer.Typer(
    help="Tell real photographs from generated images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

INTERRUPTED_MESSAGE = "interrupted: finished work is saved; run the same command again to resume"


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command line and return its exit status (never raises for user errors)."""
    from typer._click.exceptions import ClickException  # typer vendors its own click

    try:
        outcome = app(args=list(argv) if argv is not None else None, standalone_mode=False, prog_name="deepfake-detect")
    except (KeyboardInterrupt, typer.Abort):
        return interrupted(INTERRUPTED_MESSAGE)
    except Interrupted as exc:
        return interrupted(str(exc))
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:  # unknown option, missing argument, invalid value...
        context = getattr(exc, "ctx", None)
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        print_error(exc.format_message() + hint)
        return ExitStatus.USAGE
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise
        print_error(message)
        return ExitStatus.USAGE
    if outcome == ExitStatus.INTERRUPTED:  # typer turns Ctrl-C into a returned 130
        return interrupted(INTERRUPTED_MESSAGE)
    return int(outcome) if isinstance(outcome, int) else ExitStatus.OK


def interrupted(message: str) -> ExitStatus:
    console.print(f"[red]{escape(message)}[/]", highlight=False, soft_wrap=True)
    return ExitStatus.INTERRUPTED


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(argv))


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def user_message(exc: BaseException) -> str | None:
    """The one line to show for a user error, or None when `exc` is a bug."""
    full = disk_full(exc)
    if full is not None:
        return full
    if isinstance(exc, UserError):
        return " ".join(str(exc).split())
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(map(str, error["loc"]))
            text = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {text}" if where else text)
        return f"invalid {exc.title}: " + "; ".join(problems)
    return None


def disk_full(exc: BaseException) -> str | None:
    """The one line for a full disk (an OSError ENOSPC/EDQUOT, or SQLite's "disk is full") wherever
    it was raised (the results file, the feature cache, the ledger, a worker), or None.

    Every writer keeps finished work (atomic files, SQLite transactions, a ledger that drops a torn
    last line), so the same command resumes once there is room.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            where = f"{exc.filename}: " if exc.filename else ""
            return f"{where}no space left on the disk; free some space and run the same command again (finished work is kept)"
        if type(exc).__name__ == "OperationalError" and "disk is full" in str(exc):  # sqlite3, not imported here
            return "the feature cache's disk is full; free some space and run the same command again (finished work is kept)"
        if isinstance(exc, UserError) and "No space left on device" in str(exc):
            return " ".join(str(exc).split()) + "; free some space and run the same command again"
        exc = exc.__cause__ or exc.__context__
    return None


def print_error(message: str) -> None:
    console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
