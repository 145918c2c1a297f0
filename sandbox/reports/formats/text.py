"""Plain-text formats: a table for people, CSV for spreadsheets, JSON for scripts, and
tab-separated lines for a table piped to another command."""

from __future__ import annotations

import csv
import io
import json
import shutil
from typing import Any

from sandbox.reports.base import Report

TABLE_LIMIT = 50  # rows per section on screen; CSV and JSON carry them all
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_json(report: Report) -> str:
    """Indented at the top, one row per line below: readable, diff-able, and fast (json's
    indent= switches to its pure-Python encoder, ten times slower on a year of audit log)."""
    dump = json.JSONEncoder(ensure_ascii=False, default=str).encode  # one encoder, not one per row

    parts = []
    for key, value in report.to_dict().items():
        if isinstance(value, list) and value:
            rows = ",\n".join(f"    {dump(row)}" for row in value)
            parts.append(f"  {dump(key)}: [\n{rows}\n  ]")
        else:
            parts.append(f"  {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def render_csv(report: Report) -> str:
    """Every section in one table: a `section` column, then the union of the sections'
    columns in order (empty where a field does not apply), under one header row."""
    columns: list[str] = []
    for section in report.sections:
        columns += [c for c in section.columns if c not in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", *columns])
    for section in report.sections:
        writer.writerows([section.name, *(csv_cell(row.get(c)) for c in columns)] for row in section.rows)
    return buffer.getvalue()


def render_tsv(report: Report) -> str:
    """The table piped: the CSV's header and rows as tab-separated lines, as every read
    command pipes its table (cut -f, awk -F'\t'). A tab or line break inside a value is
    escaped, so each line keeps its fields; no formula guard, this is not for spreadsheets."""
    columns: list[str] = []
    for section in report.sections:
        columns += [c for c in section.columns if c not in columns]
    lines = ["\t".join(["section", *columns])]
    for section in report.sections:
        lines += ["\t".join([section.name, *(tsv_cell(row.get(c)) for c in columns)]) for row in section.rows]
    return "\n".join(lines) + "\n"


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else ""
    return str(value)


def tsv_cell(value: Any) -> str:
    return " ".join(_cell_text(value).replace("\t", "\\t").splitlines())


def csv_cell(value: Any) -> str:
    text = _cell_text(value)
    # A spreadsheet would run "=..." from a tag value or a name as a formula.
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def render_table(report: Report, width: int | None = None) -> str:
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width or max(shutil.get_terminal_size((160, 40)).columns, 100),
                      color_system=None, force_terminal=False, highlight=False, emoji=False, markup=False)
    console.print(f"{report.title} — {describe(report)}")
    if report.totals:
        totals = Table(show_header=False, title="Totals", title_justify="left")
        totals.add_column("field")
        totals.add_column("value", justify="right")
        for key, value in report.totals.items():
            totals.add_row(key, table_cell(key, value))
        console.print(totals)
    for section in report.sections:
        shown = section.rows[:TABLE_LIMIT]
        captions = [section.note] if section.note else []
        if len(section.rows) > len(shown):
            captions.append(f"{len(section.rows) - len(shown)} more rows: use --format csv or json")
        table = Table(title=section.title, title_justify="left", caption=" · ".join(captions) or None,
                      caption_justify="left")
        for column in section.columns:
            table.add_column(column, justify="right" if numeric(column) else "left", overflow="fold")
        for row in shown:
            table.add_row(*(table_cell(c, row.get(c)) for c in section.columns))
        if not shown:
            table.add_row(*(["(none)"] + [""] * (len(section.columns) - 1)))
        console.print(table)
    return buffer.getvalue()


def describe(report: Report) -> str:
    """The parameters in one line: "2025-12-07 to 2026-01-05, by department"."""
    p = report.parameters
    parts = []
    if "since" in p:
        parts.append(f"{p['since']} to {p['until']} (UTC days)")
    if "days" in p:
        parts.append(f"next {p['days']} days from {p['from']}")
    if p.get("group_by"):
        parts.append(f"by {p['group_by']}")
    filters = {k: v for k, v in (p.get("filters") or {}).items() if v}
    parts += [f"{k} {v}" for k, v in filters.items()]
    if p.get("departments"):
        parts.append(f"only departments {', '.join(p['departments'])}")
    return ", ".join(parts) + f"; generated {report.to_dict()['generated_at']}"


def numeric(column: str) -> bool:
    return column.endswith(("_usd", "_pct", "_days", "_rank")) or column in (
        "requests", "active", "frozen", "live", "deleted", "extensions", "sandboxes", "events")


def table_cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if column.endswith("_usd"):
            return f"{value:,.2f}"
        if column.endswith("_pct"):
            return f"{value:.1f}"
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else "-"
    return str(value)
