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
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from ..console import cli_output, console
from ..errors import ExitStatus, Interrupted, UserError


def without_flag_placeholders(params: list) -> list:
    """Flags take no value, so their help shows no `<bool>` type (typer prints one)."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class Command(TyperCommand):
    """Every command: its help shows flags without a type."""

    def get_params(self, ctx) -> list:
        return without_flag_placeholders(super().get_params(ctx))


class Group(TyperGroup):
    """The top level: `-h`/`--help`, `--version`, without a type shown for either."""

    def get_params(self, ctx) -> list:
        return without_flag_placeholders(super().get_params(ctx))


class App(typer.Typer):
    """The Typer app whose commands all use `Command` (help without `<bool>`)."""

    def command(self, *args, cls: type[TyperCommand] | None = None, **kwargs):
        return super().command(*args, cls=cls or Command, **kwargs)


app = App(
    help="Tell real photographs from generated images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def version_text() -> str:
    """This tool's version, the runtimes a verdict depends on, and the built-in detector."""
    import json
    from importlib import metadata

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    lines = [f"deepfake-detect {version('deepfake-detect')}",
             f"torch {version('torch')}", f"onnxruntime {version('onnxruntime')}"]
    from ..detector.builtin import BUILTIN_DETECTOR
    from ..detector.manifest import MANIFEST_FILE

    try:
        manifest = json.loads((BUILTIN_DETECTOR / MANIFEST_FILE).read_text(encoding="utf-8"))
        measured = ", ".join(f"{t['name']} {t['auc']:.3f}" for t in manifest.get("measured", {}).get("test_sets", []))
        weights = next(iter(sorted(manifest["files"].items())))
        from ..detector.kinds.ensemble import describe_members

        members = manifest["backbone"].get("members")
        name = describe_members(members) if members else manifest["backbone"]["name"]
        lines.append(f"built-in detector: {name} ({manifest['kind']}), made "
                     f"{manifest['created'][:10]}, {weights[0]} sha256 {weights[1][:12]}"
                     + (f"; AUC on unseen generators: {measured}" if measured else ""))
    except (OSError, ValueError, KeyError):
        lines.append("built-in detector: none in this installation")
    return "\n".join(lines)


def show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())  # stdout, where scripts look for a version
        raise typer.Exit(ExitStatus.OK)


@app.callback()
def main_options(
    _version: Annotated[bool, typer.Option("--version", is_eager=True, callback=show_version, expose_value=False,
                                           help="Show the version, torch's, ONNX Runtime's and the built-in detector's, and exit")] = False,
) -> None:
    """Tell real photographs from generated images."""


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
        if not exc.format_message():  # no arguments at all: the help was the answer
            return ExitStatus.USAGE
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


def start_line(message: str, inputs: Sequence[str | Path]) -> None:
    """The first line of a long command (`console.starting`) on a terminal, where a person waits
    for it; in a pipe or a log the command's own progress lines are the record, and an error
    stays the one line on stderr. Never when one of its `inputs` is missing (it fails at once)."""
    from ..console import starting
    from ..data import NAMED_DATASETS

    if console.is_terminal and all(str(source) in NAMED_DATASETS or Path(source).expanduser().exists() for source in inputs):
        starting(message)


def print_error(message: str) -> None:
    console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
