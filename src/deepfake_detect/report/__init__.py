"""Report of a benchmark run: which method detects fakes best, and which still works on unseen generators.

`write_report(run_dir)` reads RUN_DIR/results.csv (plus optional scores/*.npz, config.yaml,
run.json) and writes RUN_DIR/report.html (self-contained), RUN_DIR/report.md and
RUN_DIR/figures/*.png. `best_rows(results)` gives the same top table for the terminal.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..runs.folder import REPORT_HTML, REPORT_MARKDOWN
from ..runtime import atomic_write_text
from .content import build_report
from .html import render_html
from .markdown import render_markdown
from .tables import best_rows, load_results

log = logging.getLogger(__name__)

__all__ = ["write_report", "write_report_safely", "best_rows", "load_results"]


def write_report(run_dir: Path, metric: str = "auc") -> tuple[Path, Path]:
    """Write report.html, report.md and figures/ into `run_dir`; return (html_path, md_path).

    Raises UnknownNameError for a metric that is not a numeric results column and
    FileNotFoundError when results.csv is missing.
    """
    run_dir = Path(run_dir)
    report = build_report(run_dir, metric)
    html_path = atomic_write_text(run_dir / REPORT_HTML, render_html(report))
    markdown_path = atomic_write_text(run_dir / REPORT_MARKDOWN, render_markdown(report))
    return html_path, markdown_path


def write_report_safely(run_dir: Path, metric: str = "auc") -> Path | None:
    """The report after a run: its results are already on disk, so a report failure is a
    warning that says where they are, never an error that hides them."""
    try:
        return write_report(run_dir, metric)[0]
    except Exception as exc:  # noqa: BLE001  (plotting and templating fail in many ways)
        log.warning(f"report not written ({type(exc).__name__}: {exc}); results are in {Path(run_dir) / 'results.csv'}")
        return None
