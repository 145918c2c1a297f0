"""One self-contained HTML file: inline CSS, charts as inline SVG, no script, no network.

Every value from the database passes through html.escape (an owner e-mail may hold
"<script>"), and a Content-Security-Policy forbids scripts and remote loads anyway.
The page opens with the overview the issue asks of every HTML report (spend over time,
spend by group, live sandboxes by state, top spenders, compliance findings), then the
report's own tables.
"""

from __future__ import annotations

from html import escape
from typing import Any

from sandbox.reports.base import Report, Section
from sandbox.reports.formats import charts
from sandbox.reports.formats.text import numeric, describe, table_cell

HTML_LIMIT = 200  # rows per table in the page; CSV and JSON carry them all
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
:root { --ink:#212529; --muted:#6c757d; --line:#dee2e6; --bg:#f8f9fa; --accent:#2f6fb3; --bad:#c92a2a; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--ink); background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.params, .note, footer { color: var(--muted); font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; background: var(--bg); min-width: 120px; }
.card .k { color: var(--muted); font-size: 11px; } .card .v { font-size: 18px; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
figure svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin-bottom: 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: var(--bg); position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.open { color: var(--bad); font-weight: 600; }
code { font-size: 11px; word-break: break-all; }
"""


def render_html(report: Report, overview: dict[str, Any]) -> str:
    shown = set()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',  # a constant without double quotes
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Sandbox Cloud: {escape(report.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<header><h1>Sandbox Cloud: {escape(report.title)}</h1>",
        f'<p class="params">{escape(describe(report))}</p></header>',
        _cards(report.totals),
        "<h2>At a glance</h2>",
        f'<p class="params">{escape(overview["period"])}</p>',
        '<div class="charts">',
        _figure("Spend over time (USD per day)", charts.spend_over_time(overview["by_day"].rows)),
        _figure(f"Spend by {overview['group_by']}",
                charts.spend_by_group(overview["by_group"].rows, overview["group_by"])),
        _figure("Live sandboxes by state (now)", charts.sandboxes_by_state(overview["by_state"].rows)),
        "</div>",
    ]
    for name in ("top_spenders", "findings"):
        section = overview[name]
        parts.append(_table(section, level="h3"))
        shown.add(name)
    parts.append(f"<h2>{escape(report.title)}: details</h2>")
    parts += [_table(s) for s in report.sections if not (s.name in shown and report.kind in ("cost", "compliance"))]
    parts.append(f"<footer><p>Generated {escape(report.to_dict()['generated_at'])} by "
                 f"<code>sandbox report {escape(report.kind)}</code>. Dates and times are UTC.</p></footer>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _cards(totals: dict[str, Any]) -> str:
    cards = "".join(f'<div class="card"><div class="k">{escape(k)}</div>'
                    f'<div class="v">{escape(table_cell(k, v))}</div></div>' for k, v in totals.items())
    return f'<section class="cards">{cards}</section>'


def _figure(caption: str, svg: str) -> str:
    # The SVG comes from matplotlib (text drawn as paths, comments escaped by it).
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"


def _table(section: Section, level: str = "h3") -> str:
    rows = section.rows[:HTML_LIMIT]
    notes = [section.note] if section.note else []
    if len(section.rows) > len(rows):
        notes.append(f"showing {len(rows)} of {len(section.rows)} rows; the CSV and JSON formats have all")
    head = "".join(f'<th class="num">{escape(c)}</th>' if numeric(c) else f"<th>{escape(c)}</th>"
                   for c in section.columns)
    body = "".join("<tr>" + "".join(_td(c, row.get(c)) for c in section.columns) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(section.columns)}">(none)</td></tr>'
    note = f'<p class="note">{escape(" · ".join(notes))}</p>' if notes else ""
    return (f'<section id="{escape(section.name)}"><{level}>{escape(section.title)}</{level}>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</section>")


def _td(column: str, value: Any) -> str:
    text = escape(table_cell(column, value))
    if isinstance(value, (dict, list)) and value:
        return f"<td><code>{text}</code></td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num">{text}</td>'
    if column == "status" and value == "open":
        return f'<td class="open">{text}</td>'
    return f"<td>{text}</td>"
