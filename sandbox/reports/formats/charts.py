"""Charts as inline SVG, drawn by matplotlib (imported here only: table/CSV/JSON never load it).

No pyplot and no global backend: a bare Figure saved with format="svg" is thread-safe and
needs no display. Text is drawn as glyph paths (svg.fonttype "path"), so the file shows
the same in any browser without fonts, and names from the database never become markup.
Each chart's element ids get a prefix so several charts can share one HTML page.
"""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

ACCENT = "#2f6fb3"
STATE_COLOURS = {"requested": "#9aa5b1", "provisioning": "#f0b429", "active": "#2f9e44",
                 "frozen": "#4dabf7", "deleting": "#e8590c", "failed": "#c92a2a"}
MAX_BARS = 15
WIDTH_IN = 8.0
MAX_LABEL = 40


def spend_over_time(rows: list[dict], chart_id: str = "spend-over-time") -> str:
    fig, ax = _figure(chart_id, height=3.0, left=0.09)
    days = [date.fromisoformat(r["day"]) for r in rows]
    amounts = [r["spend_usd"] or 0.0 for r in rows]
    if any(amounts):
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        ax.fill_between(days, amounts, color=ACCENT, alpha=0.25, linewidth=0)
        ax.plot(days, amounts, color=ACCENT, linewidth=1.6, marker="o" if len(days) <= 31 else None, markersize=3)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_ylim(bottom=0)
        ax.set_ylabel("USD per day")
    else:
        _empty(ax, "no spend in this period")
    return _svg(fig, chart_id)


def spend_by_group(rows: list[dict], group_by: str, chart_id: str = "spend-by-group") -> str:
    shown = rows[:MAX_BARS]
    labels = [_label(r["group"]) for r in reversed(shown)]
    height = max(2.2, 0.38 * len(shown) + 1.0)
    fig, ax = _figure(chart_id, height=height, left=_room_for(labels), bottom=0.55 / height, top=1 - 0.3 / height)
    if shown:
        amounts = [r["spend_usd"] or 0.0 for r in reversed(shown)]
        bars = ax.barh(labels, amounts, color=ACCENT)
        ax.bar_label(bars, labels=[f"{a:,.2f}" for a in amounts], padding=3, fontsize=8)
        ax.set_xlabel("USD in the period")
        ax.margins(x=0.15)
        # Spend is never negative; with none at all matplotlib would centre a −0.06…0.06 axis on 0.
        ax.set_xlim(left=0, right=None if any(amounts) else 1)
        if len(rows) > len(shown):
            ax.set_title(f"top {len(shown)} of {len(rows)} by {group_by}", fontsize=9, loc="left")
    else:
        _empty(ax, "no spend in this period")
    return _svg(fig, chart_id)


def sandboxes_by_state(rows: list[dict], chart_id: str = "live-by-state") -> str:
    fig, ax = _figure(chart_id, height=2.6, left=0.09)
    states = [r["state"] for r in rows]
    counts = [r["sandboxes"] for r in rows]
    bars = ax.bar(states, counts, color=[STATE_COLOURS.get(s, ACCENT) for s in states])
    ax.bar_label(bars, padding=2, fontsize=8)
    ax.set_ylabel("sandboxes")
    ax.margins(y=0.2)
    if not any(counts):
        ax.set_title("no live sandboxes", fontsize=9, loc="left")
    return _svg(fig, chart_id)


def _figure(chart_id: str, height: float, left: float, bottom: float = 0.16, top: float = 0.9) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    # Fixed margins instead of bbox_inches="tight", which draws every chart twice.
    fig = Figure(figsize=(WIDTH_IN, height), dpi=96)
    fig.subplots_adjust(left=left, right=0.97, bottom=bottom, top=top)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="both", color="#e9ecef", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)
    return fig, ax


def _room_for(labels: list[str], size: float = 8.0) -> float:
    """Left margin (figure fraction) that fits the widest tick label, measured as a glyph path."""
    from matplotlib.textpath import TextPath

    widest = max((TextPath((0, 0), label, size=size).get_extents().width for label in labels), default=0.0)
    return min(0.5, (widest + 14) / (WIDTH_IN * 72))


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#868e96")
    ax.set_xticks([])
    ax.set_yticks([])


def _label(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _svg(fig: Any, chart_id: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    # A fixed salt keeps the output reproducible; the prefix below keeps ids unique per page.
    with matplotlib.rc_context({"svg.hashsalt": chart_id, "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # drop the XML declaration and DOCTYPE: inline SVG needs neither
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF about matplotlib itself
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", chart_id) + "-"
    text = re.sub(r'\bid="', f'id="{prefix}', text)
    text = re.sub(r'(xlink:href|href)="#', rf'\1="#{prefix}', text)
    text = text.replace("url(#", f"url(#{prefix}")
    return text.replace("<svg ", '<svg role="img" ', 1)
