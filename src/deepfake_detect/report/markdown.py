"""Render a `Report` as a Markdown summary (tables and links to the figure PNGs).

Meant for reading in a terminal, a pull request or a repository browser; the full
results table is left to the HTML page.
"""

from __future__ import annotations

import pandas as pd

from ..runs.folder import FIGURES_DIR
from ..runs.schema import metric_label
from .content import Report, Section


def render_markdown(report: Report) -> str:
    """The summary as Markdown text."""
    lines = [f"# {text(report.title)}", "", f"Generated {report.generated} · ranked by {text(metric_label(report.metric))}", ""]
    if report.notice:
        lines += [f"> **{text(report.notice)}**", ""]
    if report.findings:
        lines += [f"- **{text(lead)}:** {text(value)}" for lead, value in report.findings] + [""]
    lines += ["## Run summary", ""] + [f"- {text(label)}: {text(value)}" for label, value in report.summary.items()]
    for section in report.sections:
        if not section.html_only:
            lines += ["", *section_lines(section)]
    return "\n".join(lines) + "\n"


def section_lines(section: Section) -> list[str]:
    """Heading, paragraphs, tables, figure links and verbatim blocks of one section."""
    lines = [f"## {text(section.title)}", ""]
    for paragraph in section.paragraphs:
        lines += [text(paragraph), ""]
    for table in section.tables:
        lines += [f"**{text(table.caption)}**", "", *table_lines(table.frame), ""]
    for figure in section.figures:
        link = f"{FIGURES_DIR}/{figure.path.name}"
        lines += [f"![{text(figure.title)}]({link})", "", f"*{text(figure.caption)}*", ""]
    for caption, verbatim in section.preformatted:
        fence = "~~~~" if "```" in verbatim else "```"
        lines += [f"**{text(caption)}**", "", fence, verbatim.rstrip("\n"), fence, ""]
    return lines


def table_lines(frame: pd.DataFrame) -> list[str]:
    """A pipe table; cells escaped so names with | or * cannot break the layout."""
    header = "| " + " | ".join(text(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(text(v) for v in row) + " |" for row in frame.itertuples(index=False, name=None)]
    return [header, rule, *rows]


# Underscores and brackets stay: GitHub Markdown ignores intra-word "_" and names like
# "svm_rbf" should stay greppable in the raw file.
MARKDOWN_SPECIALS = str.maketrans({"|": "\\|", "*": "\\*", "`": "\\`", "<": "&lt;", ">": "&gt;", "\n": " "})


def text(value) -> str:
    """Plain text made safe for Markdown (no accidental emphasis, tables or HTML)."""
    return str(value).translate(MARKDOWN_SPECIALS)
