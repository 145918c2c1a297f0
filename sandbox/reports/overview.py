"""The overview every HTML report opens with: spend over time, spend by group, live
sandboxes by state, the top spenders and the compliance findings, for the report's
period and grouping. Sections the report already computed are reused, not queried again."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sandbox.reports import compliance, cost, usage
from sandbox.reports.base import Report, Section
from sandbox.reports.query import ReportParams


def build_overview(session: Session, p: ReportParams, report: Report) -> dict[str, Any]:
    have = {s.name: s for s in report.sections} if report.kind in ("cost", "usage", "compliance") else {}

    def reuse(name: str, kind: str, make) -> Section:
        return have[name] if report.kind == kind and name in have else make()

    return {
        "period": f"{p.since} to {p.until} (UTC days), by {p.group_by}; states as of now",
        "group_by": p.group_by,
        "by_day": reuse("by_day", "cost", lambda: cost.spend_by_day(session, p)),
        "by_group": reuse("by_group", "cost", lambda: cost.spend_by_group(session, p)),
        "top_spenders": reuse("top_spenders", "cost",
                              lambda: cost.top_spenders(cost.per_sandbox_top(session, p))),
        "by_state": reuse("by_state", "usage", lambda: usage.live_by_state(session, p)),
        "findings": reuse("findings", "compliance", lambda: compliance.findings(session, p)),
    }
