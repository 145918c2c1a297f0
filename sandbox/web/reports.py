"""Reports (managers, admins) and the audit log (admins): the same `build_report` as
`sandbox report` and GET /api/v1/reports, so the figures are the same; the HTML report's
charts inline; CSV and JSON downloads from the API route, which the session may read."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request

from sandbox.config import Identity
from sandbox.reports.query import GROUPED_KINDS, GROUPS, KINDS, PERIOD_KINDS
from sandbox.web import views
from sandbox.web.render import render, signed_in

router = APIRouter(include_in_schema=False)
Me = Annotated[Identity, Depends(signed_in)]
Text = Annotated[str, Query(max_length=254)]
ROWS_SHOWN = 200  # per table on the page; the downloads carry them all
ABOUT = {"usage": "sandboxes requested, live and ended, by group",
         "cost": "spend over the period, by group and day, and the top spenders",
         "expiring": "what expires or is deleted in the next days",
         "compliance": "untagged, orphaned and out-of-policy resources the reconciler found",
         "audit": "every action, who did it and when"}


@router.get("/reports")
def reports_index(request: Request, me: Me):
    return report_page(request, me, "usage")


@router.get("/reports/{kind}")
def report_page(request: Request, me: Me, kind: str, since: Text = "", until: Text = "", group_by: Text = "",
                days: Text = "", sandbox: Text = "", actor: Text = "", action: Text = ""):
    from sandbox.reports import build_report
    from sandbox.reports.formats import charts

    app = request.app.state.sandbox
    given = {"since": since, "until": until, "group_by": group_by, "days": days, "sandbox": sandbox,
             "actor": actor, "action": action}
    options = {k: v or None for k, v in given.items()}
    report, overview, _params = build_report(app, me, kind, fmt="html", inline=True, **options)
    assert overview is not None  # fmt html always brings the overview
    figures = [
        ("Spend over time (USD per day)", charts.spend_over_time(overview["by_day"].rows)),
        (f"Spend by {overview['group_by']}", charts.spend_by_group(overview["by_group"].rows, overview["group_by"])),
        ("Live sandboxes by state (now)", charts.sandboxes_by_state(overview["by_state"].rows)),
    ]
    shown = [overview["top_spenders"], overview["findings"]]
    details = [s for s in report.sections if not (s.name in ("top_spenders", "findings")
                                                  and report.kind in ("cost", "compliance"))]
    return render(request, "report.html", me, kind=report.kind, kinds=KINDS, about=ABOUT, report=report,
                  description=_describe(report), period=overview["period"], given=given, groups=GROUPS,
                  figures=[(caption, _chart(caption, svg)) for caption, svg in figures],
                  overview_tables=[_table(s) for s in shown], tables=[_table(s) for s in details],
                  downloads=_downloads(report.kind, given), totals=_totals(report.totals))


@router.get("/audit")
def audit_page(request: Request, me: Me, since: Text = "", until: Text = "", sandbox: Text = "", actor: Text = "",
               action: Text = ""):
    """Admins only (a manager's audit report is under Reports, limited to their departments)."""
    from sandbox.reports import build_report
    from sandbox.service.access import require_admin

    app = request.app.state.sandbox
    with app.session() as session:
        require_admin(session, me, "read the audit log", now=app.now())
    given = {"since": since, "until": until, "sandbox": sandbox, "actor": actor, "action": action}
    report, _overview, _params = build_report(app, me, "audit", fmt="json", **{k: v or None for k, v in given.items()})
    return render(request, "audit.html", me, report=report, description=_describe(report), given=given,
                  tables=[_table(s) for s in report.sections], downloads=_downloads("audit", given))


def _describe(report) -> str:
    from sandbox.reports.formats.text import describe

    return describe(report)


def _totals(totals: dict[str, Any]) -> list[tuple[str, str]]:
    from sandbox.reports.formats.text import table_cell

    return [(k, table_cell(k, v)) for k, v in totals.items()]


def _table(section) -> dict[str, Any]:
    """A section as the HTML report shows it: the same cell text as `sandbox report`'s table."""
    from sandbox.reports.formats.text import numeric, table_cell

    rows = section.rows[:ROWS_SHOWN]
    notes = [section.note] if section.note else []
    if len(section.rows) > len(rows):
        notes.append(f"showing {len(rows)} of {len(section.rows)} rows; the CSV and JSON downloads have all")
    return {"name": section.name, "title": section.title, "note": " · ".join(notes),
            "columns": [(c, numeric(c)) for c in section.columns],
            "rows": [[table_cell(c, row.get(c)) for c in section.columns] for row in rows]}


def _chart(caption: str, svg: str) -> str:
    """matplotlib's SVG (text drawn as glyph paths, so no database text becomes markup),
    made CSP-safe and given an accessible name."""
    from html import escape

    svg = views.csp_safe_svg(svg)
    return svg.replace('<svg role="img" ', f'<svg role="img" aria-label="{escape(caption)}" class="chart" ', 1)


def _downloads(kind: str, given: dict[str, str]) -> dict[str, str]:
    """The API's URLs for the same report; only the options that kind takes outside HTML."""
    allowed = set()
    if kind in PERIOD_KINDS:
        allowed |= {"since", "until"}
    if kind in GROUPED_KINDS:
        allowed.add("group_by")
    if kind == "expiring":
        allowed.add("days")
    if kind == "audit":
        allowed |= {"sandbox", "actor", "action"}
    query = {k: v for k, v in given.items() if v and k in allowed}
    return {fmt: f"/api/v1/reports/{kind}?{urlencode({**query, 'format': fmt})}" for fmt in ("csv", "json")}
