"""cost: spend from the cost samples (one row per sandbox per day, written by the budgets sweep).

Sections: spend by group and by day in the period, the top spenders, and every sandbox
with spend in the period with its budget use (lifetime spend / budget, in percent).
"Deleted" spend is the period's spend of sandboxes deleted by now. Lifetime spend and
budget use come from spend_usd, which the budgets sweep keeps equal to the sum of the
sandbox's samples. A sandbox whose spend is unknown has no samples and a NULL spend_usd;
see the compliance report's unknown_spend findings.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, case, func, select
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
    by_group, totals = spend_by_group(session, p, with_totals=True)
    sandboxes = per_sandbox(session, p)
    return Report(
        kind="cost", title="Sandbox cost", generated_at=p.now,
        parameters={**p.period(), "group_by": p.group_by}, totals=totals,
        sections=[
            by_group,
            spend_by_day(session, p),
            top_spenders(sandboxes),
            Section("budgets", "Budget use of every sandbox with spend in the period", SANDBOX_COLUMNS,
                    sandboxes, note="budget_used_pct: lifetime spend / budget; highest first"),
        ],
    )


def _in_period(p: ReportParams):
    return and_(CostSample.day >= p.since, CostSample.day <= p.until)


def _period_spend(p: ReportParams):
    """One row per sandbox with samples in the period: the only pass over the samples that
    the group, total and per-sandbox figures need (count(DISTINCT) over a million joined
    rows would sort them all)."""
    return (select(CostSample.sandbox_id.label("sid"), func.sum(CostSample.amount_usd).label("spend"))
            .where(_in_period(p)).group_by(CostSample.sandbox_id).cte("period_spend"))


def spend_by_group(session: Session, p: ReportParams, with_totals: bool = False):
    """Spend per group; the report's totals ride along as window sums over the groups."""
    group = group_column(p.group_by)
    spent = _period_spend(p)
    spend = func.sum(spent.c.spend)
    deleted = func.sum(case((Sandbox.state == DELETED, spent.c.spend), else_=0))
    sandboxes = func.count()
    query = (
        select(group.label("grp"), sandboxes.label("sandboxes"), spend.label("spend"), deleted.label("deleted"),
               (100 * spend / func.nullif(func.sum(spend).over(), 0)).label("share"),
               func.sum(sandboxes).over().label("all_sandboxes"), func.sum(spend).over().label("all_spend"),
               func.sum(deleted).over().label("all_deleted"))
        .select_from(spent).join(Sandbox, Sandbox.id == spent.c.sid)
        .group_by(group).order_by(spend.desc(), group)
    )
    result = session.execute(query).all()
    rows = [{"group": r.grp, "sandboxes": count(r.sandboxes), "spend_usd": money(r.spend),
             "deleted_spend_usd": money(r.deleted), "share_pct": pct(r.share)} for r in result]
    section = Section("by_group", f"Spend by {p.group_by}", GROUP_COLUMNS, rows)
    if not with_totals:
        return section
    first = result[0] if result else None
    totals = {"spend_usd": money(first.all_spend if first else 0),
              "deleted_spend_usd": money(first.all_deleted if first else 0),
              "sandboxes": count(first.all_sandboxes if first else 0), "days": (p.until - p.since).days + 1}
    return section, totals


def spend_by_day(session: Session, p: ReportParams) -> Section:
    """Every day of the period, zero where no sandbox had a sample."""
    found = {day(d): money(s) for d, s in session.execute(
        select(CostSample.day, func.sum(CostSample.amount_usd)).where(_in_period(p))
        .group_by(CostSample.day).order_by(CostSample.day))}
    every_day = (day(p.since + timedelta(days=n)) for n in range((p.until - p.since).days + 1))
    rows = [{"day": d, "spend_usd": found.get(d, 0.0)} for d in every_day]
    return Section("by_day", "Spend by day", DAY_COLUMNS, rows)


def per_sandbox(session: Session, p: ReportParams, top: int | None = None) -> list[dict]:
    """Period spend per sandbox, its lifetime spend and budget use, ranked by spend in SQL.

    Lifetime spend is spend_usd: the sum of the sandbox's samples as the budgets sweep
    last stored it, the figure its thresholds act on (NULL: unknown). Ordered by budget
    use; with `top`, only the `top` biggest spenders of the period.
    """
    spent = _period_spend(p)
    used = 100 * Sandbox.spend_usd / func.nullif(Sandbox.budget_usd, 0)
    rank = func.row_number().over(order_by=(spent.c.spend.desc(), Sandbox.id))
    query = (
        select(Sandbox.id, Sandbox.name, Sandbox.owner, Sandbox.department, Sandbox.template,
               Sandbox.provider, Sandbox.state, Sandbox.budget_usd, Sandbox.spend_usd, spent.c.spend,
               used.label("used"), rank.label("spend_rank"))
        .select_from(spent).join(Sandbox, Sandbox.id == spent.c.sid)
    )
    if top:
        query = query.order_by(spent.c.spend.desc(), Sandbox.id).limit(top)
    else:
        query = query.order_by(used.desc().nulls_last(), spent.c.spend.desc(), Sandbox.id)
    return [{"spend_rank": r.spend_rank, "sandbox_id": r.id, "name": r.name, "owner": r.owner,
             "department": r.department, "template": r.template, "provider": r.provider, "state": r.state,
             "spend_usd": money(r.spend), "total_spend_usd": money(r.spend_usd), "budget_usd": money(r.budget_usd),
             "budget_used_pct": pct(r.used)}
            for r in session.execute(query)]


def top_spenders(sandboxes: list[dict]) -> Section:
    """The first TOP by period spend (the ranking itself was done in SQL)."""
    top = sorted((r for r in sandboxes if r["spend_rank"] <= TOP), key=lambda r: r["spend_rank"])
    return Section("top_spenders", f"Top {TOP} spenders in the period", SANDBOX_COLUMNS, top)
