"""The one Typer app and the one dispatcher that turns outcomes into exit statuses.

Every command raises `errors.UserError` (or a pydantic `ValidationError` from a config) for a
problem the user can fix and returns an `ExitStatus`; `run` is the only place that decides how
those look: one red line and exit 2, 1 for a partial result, 130 for Ctrl-C, and a traceback
for anything else, because anything else is a bug to report.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.markup import escape

from ..console import cli_output, console
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
        with cli_output():
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


def user_message(exc: BaseException) -> str | None:
    """The one line to show for a user error, or None when `exc` is a bug."""
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


def print_error(message: str) -> None:
    console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
