"""usage: how many sandboxes, for how long, by group.

Per group, over the sandboxes that existed at some point in the period:
  requests       sandboxes requested in the period (denied ones included)
  active, frozen, live
                 their state now (live = every state that counts against quotas:
                 requested, provisioning, active, frozen, deleting)
  deleted        deleted in the period
  sandbox_days   days of life inside the period, from request to deletion (or now);
                 denied requests never lived
  extensions     "extend" events in the period
  median_lifetime_days
                 median of (deleted_at - created_at) over the sandboxes deleted in the period
"""

from __future__ import annotations

from sqlalchemy import Float, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sandbox.lifecycle import ACTIVE, DELETED, DENIED, FAILED, FROZEN, LIVE_STATES, STATES
from sandbox.models import Event, Sandbox
from sandbox.reports.base import Report, Section, count, days
from sandbox.reports.pool import pool_section
from sandbox.reports.query import (ReportParams, epoch_days, greatest, group_column, least, median_by,
                                   sandbox_scope, ts)

COLUMNS = ("group", "requests", "active", "frozen", "live", "deleted", "sandbox_days", "extensions",
           "median_lifetime_days")
TOTAL_COLUMNS = COLUMNS[1:]
CHART_STATES = tuple(s for s in STATES if s in LIVE_STATES or s == FAILED)


def build_usage(session: Session, p: ReportParams) -> Report:
    group = group_column(p.group_by)
    rows = _by_group(session, p, group)
    (total,) = _by_group(session, p, None)
    total.pop("group")
    return Report(
        kind="usage", title="Sandbox usage", generated_at=p.now,
        parameters={**p.period(), "group_by": p.group_by}, totals=total,
        sections=[
            Section("by_group", f"Usage by {p.group_by}", COLUMNS, rows,
                    note="active, frozen and live are states now; the other columns cover the period"),
            live_by_state(session, p),
            *filter(None, [pool_section(session, p)]),
        ],
    )


def _existed_in_period(p: ReportParams):
    """Requested before the period ended and not gone before it began (denied: requested in it)."""
    return and_(
        col(Sandbox.created_at) < p.end,
        or_(col(Sandbox.deleted_at).is_(None), col(Sandbox.deleted_at) >= p.start),
        or_(col(Sandbox.state) != DENIED, col(Sandbox.created_at) >= p.start),
    )


def _by_group(session: Session, p: ReportParams, group) -> list[dict]:
    key = (group if group is not None else literal("*")).label("grp")
    ended = func.coalesce(col(Sandbox.deleted_at), ts(p.now))
    overlap = (least(p, epoch_days(p, ended), epoch_days(p, ts(p.end)))
               - greatest(p, epoch_days(p, col(Sandbox.created_at)), epoch_days(p, ts(p.start))))
    lived = case((col(Sandbox.state) == DENIED, 0.0), else_=greatest(p, cast(overlap, Float), literal(0.0)))
    # No scope of its own: it is only outer-joined to the scoped sandboxes below.
    extensions = (select(col(Event.sandbox_id), func.count().label("n"))
                  .where(col(Event.action) == "extend", col(Event.at) >= p.start, col(Event.at) < p.end)
                  .group_by(col(Event.sandbox_id)).subquery())

    def flag(condition):
        return func.sum(case((condition, 1), else_=0))

    query = (
        select(
            key,
            flag(col(Sandbox.created_at) >= p.start).label("requests"),
            flag(col(Sandbox.state) == ACTIVE).label("active"),
            flag(col(Sandbox.state) == FROZEN).label("frozen"),
            flag(col(Sandbox.state).in_(LIVE_STATES)).label("live"),
            flag(and_(col(Sandbox.state) == DELETED, col(Sandbox.deleted_at) >= p.start,
                      col(Sandbox.deleted_at) < p.end)).label("deleted"),
            func.sum(lived).label("sandbox_days"),
            func.coalesce(func.sum(extensions.c.n), 0).label("extensions"),
        )
        .select_from(Sandbox)
        .outerjoin(extensions, extensions.c.sandbox_id == col(Sandbox.id))
        .where(_existed_in_period(p), *sandbox_scope(p))
    )
    if group is not None:
        query = query.group_by(group).order_by(func.sum(lived).desc(), group)
    lifetime = epoch_days(p, col(Sandbox.deleted_at)) - epoch_days(p, col(Sandbox.created_at))
    medians = median_by(session, p, group, lifetime, col(Sandbox.state) == DELETED,
                        col(Sandbox.deleted_at) >= p.start, col(Sandbox.deleted_at) < p.end, *sandbox_scope(p))
    rows = []
    for row in session.execute(query).mappings():
        name = row["grp"] if group is not None else None
        rows.append({
            "group": name,
            "requests": count(row["requests"]), "active": count(row["active"]),
            "frozen": count(row["frozen"]), "live": count(row["live"]), "deleted": count(row["deleted"]),
            "sandbox_days": days(row["sandbox_days"] or 0), "extensions": count(row["extensions"]),
            "median_lifetime_days": days(medians.get(name)),
        })
    return rows


def live_by_state(session: Session, p: ReportParams) -> Section:
    """Sandboxes now in each live state, plus failed ones (they may hold cloud resources)."""
    found = dict(session.execute(
        select(col(Sandbox.state), func.count()).where(col(Sandbox.state).in_(CHART_STATES), *sandbox_scope(p))
        .group_by(col(Sandbox.state))).all())
    rows = [{"state": state, "sandboxes": count(found.get(state))} for state in CHART_STATES]
    return Section("by_state", "Live sandboxes by state (now)", ("state", "sandboxes"), rows)

