"""Render a `Report` as one self-contained HTML page.

Self-contained means the file can be mailed or archived alone: figures are inlined as
base64 PNG data URIs, the CSS is inline, and there are no scripts, web fonts or external
links. Every piece of text from the run goes through `html.escape`.
"""

from __future__ import annotations

import base64
import re
from html import escape

import pandas as pd

from .content import Report, Section, Table
from .plots import FigureResult
from ..runs.schema import metric_label

NUMERIC_CELL = re.compile(r"^(–|-?\d[\d.,]*(e[-+]?\d+)?( ± [\d.]+)?( \[[\d.]+, [\d.]+\])?)$")

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0072b2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 64px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.3rem; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
p { margin: 8px 0; }
.meta { color: var(--muted); margin: 0 0 16px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 16px; padding: 10px 14px; background: var(--soft);
      border: 1px solid var(--line); border-radius: 8px; font-size: .92rem; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
.findings { border-left: 4px solid var(--accent); background: #eef6fb; padding: 10px 16px; border-radius: 0 8px 8px 0; }
.findings ul { margin: 4px 0; padding-left: 18px; }
.findings li { margin: 4px 0; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 14px 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
.table-wrap { overflow-x: auto; margin: 8px 0 18px; }
.table-wrap.tall { max-height: 640px; overflow-y: auto; border: 1px solid var(--line); }
table { border-collapse: collapse; font-size: .86rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; color: var(--ink); }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); position: sticky; top: 0; z-index: 1; vertical-align: bottom; }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr:hover { background: #eef6fb; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
figure { margin: 18px 0 28px; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: 6px; max-width: 900px; }
figcaption strong { color: var(--ink); }
details > summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 12px;
      overflow-x: auto; font-size: .85rem; }
footer { color: var(--muted); font-size: .85rem; margin-top: 48px; }
"""


def render_html(report: Report) -> str:
    """The whole page as a string."""
    body = "\n".join([
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">Generated {escape(report.generated)} · figures and tables ranked by '
        f"{escape(metric_label(report.metric))}</p>",
        navigation(report),
        summary_section(report),
        *(section_html(section) for section in report.sections),
        "<footer>Self-contained report written by deepfake_detect.report.</footer>",
    ])
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(report.title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def navigation(report: Report) -> str:
    """In-page table of contents (fragment links only, nothing external)."""
    links = ['<a href="#summary">Run summary</a>'] + [
        f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in report.sections]
    return f'<nav aria-label="contents">{"".join(links)}</nav>'


def summary_section(report: Report) -> str:
    """Key findings first (the answers), then what was evaluated."""
    parts = ['<section id="summary">', "<h2>Run summary</h2>"]
    if report.findings:
        items = "".join(f"<li><strong>{escape(lead)}:</strong> {escape(text)}</li>" for lead, text in report.findings)
        parts.append(f'<div class="findings"><ul>{items}</ul></div>')
    rows = "".join(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in report.summary.items())
    parts += [f'<dl class="summary">{rows}</dl>', "</section>"]
    return "\n".join(parts)


def section_html(section: Section) -> str:
    """Paragraphs, tables, figures and verbatim text of one section, optionally collapsed."""
    inner = [f"<p>{escape(text)}</p>" for text in section.paragraphs]
    inner += [table_html(table, tall=section.collapsed) for table in section.tables]
    inner += [figure_html(figure) for figure in section.figures]
    inner += [f"<p><strong>{escape(caption)}</strong></p><pre>{escape(text)}</pre>"
              for caption, text in section.preformatted]
    content = "\n".join(inner)
    if section.collapsed:
        content = f"<details><summary>Show {escape(section.title.lower())}</summary>\n{content}\n</details>"
    return f'<section id="{escape(section.anchor)}">\n<h2>{escape(section.title)}</h2>\n{content}\n</section>'


def table_html(table: Table, tall: bool = False) -> str:
    """A captioned table; columns that hold numbers are right-aligned."""
    frame = table.frame
    numeric = [is_numeric_column(frame[column]) for column in frame.columns]
    header = "".join(cell("th", column, num) for column, num in zip(frame.columns, numeric))
    body = "\n".join(
        "<tr>" + "".join(cell("td", value, num) for value, num in zip(row, numeric)) + "</tr>"
        for row in frame.itertuples(index=False, name=None))
    wrap_class = "table-wrap tall" if tall else "table-wrap"
    return (f'<div class="{wrap_class}"><table><caption>{escape(table.caption)}</caption>'
            f"<thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>")


def cell(tag: str, value, numeric: bool) -> str:
    """One escaped <td>/<th>."""
    css = ' class="num"' if numeric else ""
    return f"<{tag}{css}>{escape(str(value))}</{tag}>"


def is_numeric_column(values: pd.Series) -> bool:
    """True when every cell reads as a number (or a dash), so it can be right-aligned."""
    texts = values.astype(str)
    return bool(len(texts)) and bool(texts.str.match(NUMERIC_CELL).all()) and bool((texts != "–").any())


def figure_html(figure: FigureResult) -> str:
    """The PNG inlined as a data URI, with its title and caption."""
    encoded = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{encoded}" alt="{escape(figure.title)}">'
            f"<figcaption><strong>{escape(figure.title)}.</strong> {escape(figure.caption)}</figcaption></figure>")
