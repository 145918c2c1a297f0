"""cost: spend from the cost samples (one row per sandbox per day, written by the budgets sweep).

Sections: spend by group and by day in the period, the top spenders, and every sandbox
with spend in the period with its budget use (lifetime spend / budget, in percent).
"Deleted" spend is the period's spend of sandboxes deleted by now. A sandbox whose
spend is unknown has no samples; see the compliance report's unknown_spend findings.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.orm import Session

from sandbox.lifecycle import DELETED
from sandbox.models import CostSample, Sandbox
from sandbox.reports.base import Report, Section, count, day, money, pct
from sandbox.reports.query import ReportParams, group_column

TOP = 10
GROUP_COLUMNS = ("group", "sandboxes", "spend_usd", "deleted_spend_usd", "share_pct")
DAY_COLUMNS = ("day", "spend_usd")
SANDBOX_COLUMNS = ("spend_rank", "sandbox_id", "name", "owner", "department", "template", "provider", "state",
                   "spend_usd", "total_spend_usd", "budget_usd", "budget_used_pct")


def build_cost(session: Session, p: ReportParams) -> Report:
    sandboxes = per_sandbox(session, p)
    return Report(
        kind="cost", title="Sandbox cost", generated_at=p.now,
        parameters={**p.period(), "group_by": p.group_by}, totals=cost_totals(session, p),
        sections=[
            spend_by_group(session, p),
            spend_by_day(session, p),
            top_spenders(sandboxes),
            Section("budgets", "Budget use of every sandbox with spend in the period", SANDBOX_COLUMNS,
                    sandboxes, note="budget_used_pct: lifetime spend / budget; highest first"),
        ],
    )


def _in_period(p: ReportParams):
    return and_(CostSample.day >= p.since, CostSample.day <= p.until)


def cost_totals(session: Session, p: ReportParams) -> dict:
    spend = func.sum(CostSample.amount_usd)
    deleted = func.sum(case((Sandbox.state == DELETED, CostSample.amount_usd), else_=0))
    row = session.execute(
        select(spend, deleted, func.count(distinct(CostSample.sandbox_id)))
        .join(Sandbox, Sandbox.id == CostSample.sandbox_id).where(_in_period(p))).one()
    return {"spend_usd": money(row[0] or 0), "deleted_spend_usd": money(row[1] or 0),
            "sandboxes": count(row[2]), "days": (p.until - p.since).days + 1}


def spend_by_group(session: Session, p: ReportParams) -> Section:
    group = group_column(p.group_by)
    spend = func.sum(CostSample.amount_usd)
    share = 100 * spend / func.nullif(func.sum(spend).over(), 0)
    query = (
        select(group.label("grp"), func.count(distinct(CostSample.sandbox_id)).label("sandboxes"),
               spend.label("spend"),
               func.sum(case((Sandbox.state == DELETED, CostSample.amount_usd), else_=0)).label("deleted"),
               share.label("share"))
        .join(Sandbox, Sandbox.id == CostSample.sandbox_id)
        .where(_in_period(p)).group_by(group).order_by(spend.desc(), group)
    )
    rows = [{"group": r.grp, "sandboxes": count(r.sandboxes), "spend_usd": money(r.spend),
             "deleted_spend_usd": money(r.deleted), "share_pct": pct(r.share)}
            for r in session.execute(query)]
    return Section("by_group", f"Spend by {p.group_by}", GROUP_COLUMNS, rows)


def spend_by_day(session: Session, p: ReportParams) -> Section:
    """Every day of the period, zero where no sandbox had a sample."""
    found = {day(d): money(s) for d, s in session.execute(
        select(CostSample.day, func.sum(CostSample.amount_usd)).where(_in_period(p))
        .group_by(CostSample.day).order_by(CostSample.day))}
    every_day = (day(p.since + timedelta(days=n)) for n in range((p.until - p.since).days + 1))
    rows = [{"day": d, "spend_usd": found.get(d, 0.0)} for d in every_day]
    return Section("by_day", "Spend by day", DAY_COLUMNS, rows)


def per_sandbox(session: Session, p: ReportParams, top: int | None = None) -> list[dict]:
    """One scan of the samples: period and lifetime spend per sandbox, ranked in SQL.

    Ordered by budget use; with `top`, only the `top` biggest spenders, by spend."""
    spent = func.sum(case((_in_period(p), CostSample.amount_usd)))
    sums = (select(CostSample.sandbox_id.label("sid"), spent.label("spend"),
                   func.sum(CostSample.amount_usd).label("total"))
            .group_by(CostSample.sandbox_id).having(spent.is_not(None)).subquery())
    used = 100 * sums.c.total / func.nullif(Sandbox.budget_usd, 0)
    rank = func.row_number().over(order_by=(sums.c.spend.desc(), Sandbox.id))
    query = (
        select(Sandbox.id, Sandbox.name, Sandbox.owner, Sandbox.department, Sandbox.template,
               Sandbox.provider, Sandbox.state, Sandbox.budget_usd, sums.c.spend, sums.c.total,
               used.label("used"), rank.label("spend_rank"))
        .join(sums, sums.c.sid == Sandbox.id)
    )
    if top:
        query = query.order_by(sums.c.spend.desc(), Sandbox.id).limit(top)
    else:
        query = query.order_by(used.desc().nulls_last(), sums.c.spend.desc(), Sandbox.id)
    return [{"spend_rank": r.spend_rank, "sandbox_id": r.id, "name": r.name, "owner": r.owner,
             "department": r.department, "template": r.template, "provider": r.provider, "state": r.state,
             "spend_usd": money(r.spend), "total_spend_usd": money(r.total), "budget_usd": money(r.budget_usd),
             "budget_used_pct": pct(r.used)}
            for r in session.execute(query)]


def top_spenders(sandboxes: list[dict]) -> Section:
    """The first TOP by period spend (the ranking itself was done in SQL)."""
    top = sorted((r for r in sandboxes if r["spend_rank"] <= TOP), key=lambda r: r["spend_rank"])
    return Section("top_spenders", f"Top {TOP} spenders in the period", SANDBOX_COLUMNS, top)
