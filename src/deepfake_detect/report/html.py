"""Render a `Report` as one self-contained HTML page, from the jinja2 template
`templates/report.html.j2` (package data).

Self-contained means the file can be mailed or archived alone: figures are inlined as
base64 PNG data URIs, the CSS (`templates/report.css`) is inline, and there are no scripts,
web fonts or external links. The environment autoescapes, so every piece of text from the run
is escaped. Python keeps only what a template cannot say well: which columns hold numbers.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

import jinja2
import pandas as pd

from ..runs.schema import metric_label
from .content import Report

NUMERIC_CELL = re.compile(r"^(–|-?\d[\d.,]*(e[-+]?\d+)?( ± [\d.]+)?( \[[\d.]+, [\d.]+\])?)$")
TEMPLATE = "report.html.j2"


@cache
def environment() -> jinja2.Environment:
    """The templates shipped in the package, autoescaped, with the report's two filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deepfake_detect.report", "templates"),
        autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["numeric_columns"] = lambda frame: [is_numeric_column(frame[c]) for c in frame.columns]
    env.filters["base64"] = lambda path: base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return env


def render_html(report: Report) -> str:
    """The whole page as a string."""
    return environment().get_template(TEMPLATE).render(report=report, metric_label=metric_label(report.metric))


def is_numeric_column(values: pd.Series) -> bool:
    """True when every cell reads as a number (or a dash), so it can be right-aligned."""
    texts = values.astype(str)
    return bool(len(texts)) and bool(texts.str.match(NUMERIC_CELL).all()) and bool((texts != "–").any())
