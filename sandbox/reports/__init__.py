"""Reports: usage, cost, expiring, compliance, audit; as a table, CSV, JSON or HTML.

    run_report(app, identity, "cost", since="2026-01-01", group_by="owner", fmt="json")

Reports read the database only, inside one transaction (on PostgreSQL a read-only
REPEATABLE READ one, so every section sees the same snapshot), and aggregate in SQL.
Admins see everything; a manager sees the same reports over their departments' sandboxes.
Field names and the JSON shape are documented in docs/reports.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sandbox.config import Identity
from sandbox.reports.base import Report
from sandbox.reports.query import FORMATS, GROUPS, KINDS, ReportParams, parse_params

__all__ = ["FORMATS", "GROUPS", "KINDS", "Report", "ReportOutput", "ReportParams", "build_report", "render_report", "run_report"]


@dataclass
class ReportOutput:
    report: Report
    fmt: str
    text: str | None = None  # what to print (None when written to `path`)
    path: Path | None = None


def _builders() -> dict[str, Callable]:
    from sandbox.reports.audit import build_audit
    from sandbox.reports.compliance import build_compliance
    from sandbox.reports.cost import build_cost
    from sandbox.reports.expiring import build_expiring
    from sandbox.reports.usage import build_usage

    return {"usage": build_usage, "cost": build_cost, "expiring": build_expiring,
            "compliance": build_compliance, "audit": build_audit}


def run_report(app, identity: Identity, kind: str, *, since: str | None = None, until: str | None = None,
               group_by: str | None = None, fmt: str | None = "table", out: str | os.PathLike | None = None,
               days: str | int | None = None, sandbox: str | None = None, actor: str | None = None,
               action: str | None = None) -> ReportOutput:
    """Admins, and managers over their departments (a refusal is audited). Validates
    everything before reading; writes `out` atomically, else returns the text to print."""
    from sandbox.reports.formats import render, write_atomic

    report, overview, params = build_report(
        app, identity, kind, since=since, until=until, group_by=group_by, fmt=fmt, out=out, days=days,
        sandbox=sandbox, actor=actor, action=action)
    content = render(report, params.fmt, overview)
    if params.out is None:
        return ReportOutput(report, params.fmt, text=content)
    return ReportOutput(report, params.fmt, path=write_atomic(params.out, content))


def render_report(app, identity: Identity, kind: str, **options) -> str:
    """The rendered report as text, whatever the format (the API's downloads)."""
    from sandbox.reports.formats import render

    report, overview, params = build_report(app, identity, kind, inline=True, **options)
    return render(report, params.fmt, overview)


def build_report(app, identity: Identity, kind: str, **options) -> tuple[Report, dict | None, ReportParams]:
    """The report as data (plus the HTML overview when fmt is html), without rendering."""
    from sqlalchemy import text

    from sandbox.service.access import require_manager_or_admin

    now = app.now()
    with app.session() as session:
        require_manager_or_admin(session, identity, "see reports", now=now)
    warn_before = tuple(app.settings.daemon.warn_before)
    departments = None if identity.is_admin else identity.manages
    params = parse_params(kind, now=now, dialect=app.engine.dialect.name, warn_before=warn_before,
                          departments=departments, **options)
    with app.session() as session:
        if app.is_postgres:
            # app.session() only SET LOCALs a lock timeout, so this is still the first query.
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        report = _builders()[params.kind](session, params)
        report.parameters.update(params.scope())
        overview = None
        if params.fmt == "html":
            from sandbox.reports.overview import build_overview

            overview = build_overview(session, params, report)
    return report, overview, params
