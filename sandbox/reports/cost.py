"""cost: spend from the cost samples (one row per sandbox per day with spend, written by the
budgets sweep: a day without a sample spent nothing).

Sections: spend by group and by day in the period (every day, 0 where no sample), the
top spenders, and every sandbox with spend in the period with its budget use (lifetime
spend / budget, in percent).
"Deleted" spend is the period's spend of sandboxes deleted by now. Lifetime spend is
spend_usd, which the budgets sweep keeps equal to the sum of the sandbox's samples (the
figure its thresholds act on). A sandbox whose spend is unknown has no samples and a
NULL spend_usd; see the compliance report's unknown_spend findings.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, case, func, literal, null, select, union_all
from sqlalchemy.orm import Session
from sqlmodel import col

from sandbox.lifecycle import DELETED
from sandbox.models import CostSample, Sandbox
from sandbox.reports.base import Report, Section, count, day, money, pct
from sandbox.reports.query import ReportParams, group_column, owned_scope

TOP = 10
GROUP_COLUMNS = ("group", "sandboxes", "spend_usd", "deleted_spend_usd", "share_pct")
DAY_COLUMNS = ("day", "spend_usd")
SANDBOX_COLUMNS = ("spend_rank", "sandbox_id", "name", "owner", "department", "template", "provider", "state",
                   "spend_usd", "total_spend_usd", "budget_usd", "budget_used_pct")


def build_cost(session: Session, p: ReportParams) -> Report:
    groups, totals, sandboxes = groups_and_sandboxes(session, p)
    return Report(
        kind="cost", title="Sandbox cost", generated_at=p.now,
        parameters={**p.period(), "group_by": p.group_by}, totals=totals,
        sections=[
            Section("by_group", f"Spend by {p.group_by}", GROUP_COLUMNS, groups),
            spend_by_day(session, p),
            top_spenders(sandboxes),
            Section("budgets", "Budget use of every sandbox with spend in the period", SANDBOX_COLUMNS,
                    sandboxes, note="budget_used_pct: lifetime spend / budget; highest first"),
        ],
    )


def _in_period(p: ReportParams):
    """The period's samples of the sandboxes the reader may see: every cost query reads
    samples through this, so one scope covers them all."""
    return and_(col(CostSample.day) >= p.since, col(CostSample.day) <= p.until,
                *owned_scope(p, col(CostSample.sandbox_id)))


def _period_spend(p: ReportParams):
    """One row per sandbox with samples in the period (count(DISTINCT) over a million
    joined samples would sort them all; this hashes them once)."""
    return (select(col(CostSample.sandbox_id).label("sid"), func.sum(col(CostSample.amount_usd)).label("spend"))
            .where(_in_period(p)).group_by(col(CostSample.sandbox_id)).cte("period_spend"))


def groups_and_sandboxes(session: Session, p: ReportParams) -> tuple[list[dict], dict, list[dict]]:
    """Spend by group (with the report's totals as window sums over the groups) and every
    sandbox with spend in the period, in ONE statement: both read the same per-sandbox
    sums, so the samples are scanned once. The rows come back tagged "group" or "sandbox"."""
    spent = _period_spend(p)
    j = (select(col(Sandbox.id).label("sid"), col(Sandbox.name), col(Sandbox.owner), col(Sandbox.department),
                col(Sandbox.template), col(Sandbox.provider), col(Sandbox.state), col(Sandbox.budget_usd),
                col(Sandbox.spend_usd),
                group_column(p.group_by).label("grp"), spent.c.spend)
         .select_from(spent).join(Sandbox, col(Sandbox.id) == spent.c.sid).cte("spent"))
    spend = func.sum(j.c.spend)
    deleted = func.sum(case((j.c.state == DELETED, j.c.spend), else_=0))
    number = func.count()
    sandbox_fields = ("sid", "name", "owner", "department", "template", "provider", "state", "budget_usd", "spend_usd")
    groups = select(
        literal("group").label("row_kind"), j.c.grp, j.c.grp.label("grp_order"), spend.label("spend"),
        number.label("sandboxes"), deleted.label("deleted"),
        (100 * spend / func.nullif(func.sum(spend).over(), 0)).label("share"),
        func.sum(number).over().label("all_sandboxes"), func.sum(spend).over().label("all_spend"),
        func.sum(deleted).over().label("all_deleted"),
        *(null().label(name) for name in sandbox_fields), null().label("used"), null().label("spend_rank"),
    ).group_by(j.c.grp)
    sandboxes = select(
        literal("sandbox"), j.c.grp, j.c.grp, j.c.spend, *(null() for _ in range(6)),
        *(j.c[name] for name in sandbox_fields),
        100 * j.c.spend_usd / func.nullif(j.c.budget_usd, 0),
        func.row_number().over(order_by=(j.c.spend.desc(), j.c.sid)),
    )
    both = union_all(groups, sandboxes).subquery()
    rows = session.execute(select(both).order_by(
        both.c.row_kind, both.c.used.desc().nulls_last(), both.c.spend.desc(), both.c.grp_order, both.c.sid)).all()
    by_group = [{"group": r.grp, "sandboxes": count(r.sandboxes), "spend_usd": money(r.spend),
                 "deleted_spend_usd": money(r.deleted), "share_pct": pct(r.share)}
                for r in rows if r.row_kind == "group"]
    first = next((r for r in rows if r.row_kind == "group"), None)
    totals = {"spend_usd": money(first.all_spend if first else 0),
              "deleted_spend_usd": money(first.all_deleted if first else 0),
              "sandboxes": count(first.all_sandboxes if first else 0), "days": (p.until - p.since).days + 1}
    per_box = [_sandbox_row(r.spend_rank, r.sid, r, r.spend, r.spend_usd, r.used)
               for r in rows if r.row_kind == "sandbox"]
    return by_group, totals, per_box


def _sandbox_row(rank, sandbox_id, r, spend, lifetime, used) -> dict:
    return {"spend_rank": count(rank), "sandbox_id": sandbox_id, "name": r.name, "owner": r.owner,
            "department": r.department, "template": r.template, "provider": r.provider, "state": r.state,
            "spend_usd": money(spend), "total_spend_usd": money(lifetime), "budget_usd": money(r.budget_usd),
            "budget_used_pct": pct(used)}


def spend_by_group(session: Session, p: ReportParams) -> Section:
    """Spend per group alone (the HTML overview of the other kinds)."""
    group = group_column(p.group_by)
    spent = _period_spend(p)
    spend = func.sum(spent.c.spend)
    query = (
        select(group.label("grp"), func.count().label("sandboxes"), spend.label("spend"),
               func.sum(case((col(Sandbox.state) == DELETED, spent.c.spend), else_=0)).label("deleted"),
               (100 * spend / func.nullif(func.sum(spend).over(), 0)).label("share"))
        .select_from(spent).join(Sandbox, col(Sandbox.id) == spent.c.sid)
        .group_by(group).order_by(spend.desc(), group)
    )
    rows = [{"group": r.grp, "sandboxes": count(r.sandboxes), "spend_usd": money(r.spend),
             "deleted_spend_usd": money(r.deleted), "share_pct": pct(r.share)}
            for r in session.execute(query)]
    return Section("by_group", f"Spend by {p.group_by}", GROUP_COLUMNS, rows)


def spend_by_day(session: Session, p: ReportParams) -> Section:
    """Every day of the period, zero where no sandbox had a sample."""
    found = {day(d): money(s) for d, s in session.execute(
        select(col(CostSample.day), func.sum(col(CostSample.amount_usd))).where(_in_period(p))
        .group_by(col(CostSample.day)).order_by(col(CostSample.day)))}
    every_day = (day(p.since + timedelta(days=n)) for n in range((p.until - p.since).days + 1))
    rows = [{"day": d, "spend_usd": found.get(d, 0.0)} for d in every_day]
    return Section("by_day", "Spend by day", DAY_COLUMNS, rows)


def per_sandbox_top(session: Session, p: ReportParams, top: int = TOP) -> list[dict]:
    """The `top` biggest spenders of the period alone (the HTML overview of the other kinds)."""
    spent = _period_spend(p)
    query = (
        select(col(Sandbox.id), col(Sandbox.name), col(Sandbox.owner), col(Sandbox.department),
               col(Sandbox.template), col(Sandbox.provider), col(Sandbox.state), col(Sandbox.budget_usd),
               col(Sandbox.spend_usd), spent.c.spend,
               (100 * col(Sandbox.spend_usd) / func.nullif(col(Sandbox.budget_usd), 0)).label("used"),
               func.row_number().over(order_by=(spent.c.spend.desc(), col(Sandbox.id))).label("spend_rank"))
        .select_from(spent).join(Sandbox, col(Sandbox.id) == spent.c.sid)
        .order_by(spent.c.spend.desc(), col(Sandbox.id)).limit(top)
    )
    return [_sandbox_row(r.spend_rank, r.id, r, r.spend, r.spend_usd, r.used) for r in session.execute(query)]


def top_spenders(sandboxes: list[dict]) -> Section:
    """The first TOP by period spend (the ranking itself was done in SQL)."""
    top = sorted((r for r in sandboxes if r["spend_rank"] <= TOP), key=lambda r: r["spend_rank"])
    return Section("top_spenders", f"Top {TOP} spenders in the period", SANDBOX_COLUMNS, top)
