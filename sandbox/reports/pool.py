"""The account pool in the usage report (admins only: pool accounts belong to no department).

Per provider:
  size           accounts in the pool now (every state but retired)
  ready, leased, cleaning, quarantined
                 accounts in that state now
  leases         accounts leased to sandboxes in the period
  median_lease_wait_s
                 median seconds from a sandbox's request (its approval, when it needed one)
                 to its lease, over the leases in the period
  failed_passes  clean passes that failed in the period (three in a row quarantine an account)
"""

from __future__ import annotations

from datetime import datetime
from statistics import median

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sandbox.models import POOL_STATES, Event, PoolAccount, Sandbox
from sandbox.reports.base import Section, count
from sandbox.reports.query import ReportParams

COLUMNS = ("provider", "size", "ready", "leased", "cleaning", "quarantined", "leases", "median_lease_wait_s",
           "failed_passes")


def pool_section(session: Session, p: ReportParams) -> Section | None:
    """None for a manager's report, and where no pool was ever configured."""
    if p.departments is not None:
        return None
    rows = pool_rows(session, p.start, p.end)
    if not rows:
        return None
    return Section("pool", "Account pool", COLUMNS, rows,
                   note="size and the states are now; leases, lease wait and failed clean passes cover the period")


def pool_rows(session: Session, start: datetime, end: datetime) -> list[dict]:
    """One row per provider with a pool (COLUMNS): the states now, the rest over [start, end).
    The daemon's metrics read the same rows over the last day."""
    now = {(provider, state): n for provider, state, n in session.execute(
        select(col(PoolAccount.provider), col(PoolAccount.state), func.count())
        .group_by(col(PoolAccount.provider), col(PoolAccount.state)))}
    if not now:
        return []
    events = session.execute(
        select(col(Event.action), col(Event.sandbox_id), col(Event.at), col(Event.detail))
        .where(col(Event.action).in_(("pool_leased", "pool_clean_pass")), col(Event.at) >= start,
               col(Event.at) < end)).all()
    waits: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    started = _request_times(session, {e.sandbox_id for e in events if e.action == "pool_leased"})
    for action, sandbox_id, at, detail in events:
        provider = detail.get("provider", "")
        if action == "pool_clean_pass" and not detail.get("clean"):
            failed[provider] = failed.get(provider, 0) + 1
        elif action == "pool_leased" and sandbox_id in started:
            waits.setdefault(provider, []).append(max(0.0, (at - started[sandbox_id]).total_seconds()))
    rows = []
    for provider in sorted({provider for provider, _ in now}):
        def n(state: str) -> int:
            return now.get((provider, state), 0)
        rows.append({
            "provider": provider, "size": sum(n(state) for state in POOL_STATES if state != "retired"),
            "ready": n("ready"), "leased": n("leased"), "cleaning": n("cleaning"), "quarantined": n("quarantined"),
            "leases": len(waits.get(provider, [])),
            "median_lease_wait_s": round(median(waits[provider]), 1) if waits.get(provider) else None,
            "failed_passes": count(failed.get(provider)),
        })
    return rows


def _request_times(session: Session, sandbox_ids: set[str | None]) -> dict[str | None, datetime]:
    """When each sandbox could first be provisioned: its approval, else its request."""
    if not sandbox_ids:
        return {}
    times: dict[str | None, datetime] = dict(session.execute(select(col(Sandbox.id), col(Sandbox.created_at))
                                 .where(col(Sandbox.id).in_(sandbox_ids))).all())
    for sandbox_id, at in session.execute(
            select(col(Event.sandbox_id), func.max(col(Event.at)))
            .where(col(Event.action) == "approve", col(Event.sandbox_id).in_(sandbox_ids))
            .group_by(col(Event.sandbox_id))):
        times[sandbox_id] = at
    return times
