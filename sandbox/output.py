"""What read commands print: JSON for scripts; for people a table drawn by rich that fits
the terminal; piped, tab-separated lines under a header line, whole values, as `gh` pipes
them (grep, cut -f, awk -F'\\t'), with no start-up cost for rich.

In a terminal the columns a row is known by (ids, states, times) keep their width, and
the long free-form ones (names, templates, owners, locations) give way, shortened with an
ellipsis, so a row stays one line: rich's own column sizing (no_wrap, overflow, min_width)
does the work. `wide` shows every value in full, however wide that makes the table.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

# Columns known by their whole value; the others may be shortened in a terminal.
KEEP_WHOLE = ("id", "sandbox_id", "state", "from_state", "to_state", "action", "scope", "at")
SHORT = 5  # a shortened column still shows values this long whole


def one_line(text: Any) -> str:
    """A message quoting user input (a path, a value) stays one line, and the input's
    control characters (terminal escapes, bidi overrides) are shown escaped, not obeyed."""
    import unicodedata

    flat = " ".join(str(text).splitlines()).strip()
    return "".join(repr(ch)[1:-1] if unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch for ch in flat)


def emit(data: Any, output: str, columns: tuple[str, ...] | None = None, *, wide: bool = False,
         empty: str = "(none)", keep: tuple[str, ...] = ()) -> None:
    """`empty`: what a terminal shows for an empty list (piped, it is the header alone).
    `keep`: more columns to keep whole besides KEEP_WHOLE."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if not sys.stdout.isatty():
        emit_tab_separated(data, columns)
        return
    if isinstance(data, list) and not data:
        click.echo(empty)
        return
    from rich.console import Console

    # Values are data, not markup: a deny reason like "[/x]" crashed rich's markup parser
    # and "[red]" restyled the table; control characters are escaped by _cell.
    console = Console(markup=False, emoji=False)
    if isinstance(data, list):
        table = list_table(data, columns or tuple(data[0]), wide=wide, keep=keep)
        if wide:
            console = Console(markup=False, emoji=False, width=max(console.width, natural_width(console, table)))
        console.print(table, crop=not wide)
        return
    console.print(detail_table(data))


def list_table(rows: list[dict[str, Any]], columns: tuple[str, ...], *, wide: bool = False,
               keep: tuple[str, ...] = ()):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    whole = set(KEEP_WHOLE) | set(keep)
    for index, name in enumerate(columns):
        if wide or name in whole or name.endswith("_at"):
            widest = max([len(name), *(len(line[index]) for line in cells)])
            table.add_column(name, no_wrap=True, min_width=widest)
        else:
            # Wrappable to rich (so it is what gives way), yet each cell is one line, cut with "…".
            # Short values (aws, gcp, group) stay whole; only their header is cut.
            longest = max(len(line[index]) for line in cells)
            table.add_column(name, overflow="ellipsis", min_width=longest if longest <= SHORT else None)
    for line in cells:
        table.add_row(*(Text(value, no_wrap=True, overflow="ellipsis") for value in line))
    return table


def natural_width(console, table) -> int:
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update_width(1_000_000), table).maximum


def detail_table(data: dict[str, Any]):
    from rich.table import Table

    table = Table(show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, _cell(value))
    return table


def emit_tab_separated(data: Any, columns: tuple[str, ...] | None) -> None:
    """_cell escapes a tab inside a value, so every line keeps its columns. An empty list
    is its header line alone (when the columns are known), so `| tail -n +2` is empty too."""
    if isinstance(data, list):
        cols = columns or (tuple(data[0]) if data else ())
        if not cols:
            return
        lines = [list(cols)] + [[_cell(row.get(c)) for c in cols] for row in data]
    else:
        lines = [[key, _cell(value)] for key, value in data.items()]
    click.echo("\n".join("\t".join(line) for line in lines))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str) if value else "-"
    return one_line(value)
