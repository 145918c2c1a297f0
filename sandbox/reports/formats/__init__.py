"""Rendering a Report, and writing it to a file so that no partial file is ever seen."""

from __future__ import annotations

from typing import Any

from sandbox.files import write_atomic  # noqa: F401  (re-exported)
from sandbox.reports.base import Report


def render(report: Report, fmt: str, overview: dict[str, Any] | None = None) -> str:
    if fmt == "html":
        from sandbox.reports.formats.html import render_html

        return render_html(report, overview or {})
    from sandbox.reports.formats import text

    return {"table": text.render_table, "csv": text.render_csv, "json": text.render_json,
            "tsv": text.render_tsv}[fmt](report)
