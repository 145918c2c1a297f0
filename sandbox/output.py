"""What read commands print: JSON for scripts; for people a table that fits the terminal;
piped, tab-separated lines under a header line, whole values, as `gh` pipes them (grep,
cut -f, awk -F'\\t').

In a terminal the columns a row is known by (ids, states, times) keep their width, and
the long free-form ones (names, templates, owners, locations) give way, shortened with an
ellipsis, so a row stays one line: the widest of those loses a cell at a time until the
row fits (what rich's column sizing did for these tables). `wide` shows every value in
full, however wide that makes the table. Lists are drawn here, in a few lines of Python:
rich's import and layout cost `sandbox list` in a terminal more than its query does
(bench/cli_latency.py). rich still draws the one-record views (`show`), whose long values
fold onto more lines.
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
    if isinstance(data, list):
        click.echo(terminal_table(data, columns or tuple(data[0]), wide=wide, keep=keep))
        return
    from rich.console import Console

    # Values are data, not markup: a deny reason like "[/x]" crashed rich's markup parser
    # and "[red]" restyled the table; control characters are escaped by _cell.
    Console(markup=False, emoji=False).print(detail_table(data))


GAP = "  "  # between columns
ELLIPSIS = "…"
RULE = "─"


def terminal_table(rows: list[dict[str, Any]], columns: tuple[str, ...], *, wide: bool = False,
                   keep: tuple[str, ...] = (), width: int | None = None, bold: bool | None = None) -> str:
    """Header, rule and one line per row, fitted to `width` (the terminal's) unless `wide`.

    The columns kept whole, and the short ones (values of at most SHORT cells), keep their
    width; the others give way, the widest first, down to 2 cells (one and "…"). A table
    that still does not fit is cut at the terminal's edge rather than wrapped."""
    import shutil

    if width is None:
        width = shutil.get_terminal_size().columns
    if bold is None:
        import os

        bold = not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    whole = set(KEEP_WHOLE) | set(keep)
    widths, floors = [], []
    for index, name in enumerate(columns):
        longest = max(_cells(line[index]) for line in cells)
        widths.append(max(longest, _cells(name)))
        kept = wide or name in whole or name.endswith("_at")
        floors.append(widths[-1] if kept else longest if longest <= SHORT else 2)
    if not wide:
        excess = sum(widths) + len(GAP) * (len(columns) - 1) - width
        while excess > 0:
            shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    lines = [GAP.join(_fit(value, w) for value, w in zip(line, widths)).rstrip() for line in [list(columns), *cells]]
    lines.insert(1, RULE * (sum(widths) + len(GAP) * (len(columns) - 1)))
    if not wide:  # cut, not wrapped: a terminal would break the line
        lines = [_cut(line, width).rstrip() for line in lines]
    if bold:
        lines[0] = f"\x1b[1m{lines[0]}\x1b[0m"
    return "\n".join(lines)


def _cells(text: str) -> int:
    """Terminal cells `text` takes: East Asian wide characters two, combining marks none."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def _cut(text: str, room: int) -> str:
    """The longest start of `text` that takes at most `room` cells."""
    if text.isascii():
        return text[:room]
    used = 0
    for index, ch in enumerate(text):
        used += _cells(ch)
        if used > room:
            return text[:index]
    return text


def _fit(text: str, width: int) -> str:
    """`text` in exactly `width` cells: shortened with "…", or padded with spaces."""
    if _cells(text) > width:
        text = _cut(text, width - 1) + ELLIPSIS
    return text + " " * (width - _cells(text))


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
