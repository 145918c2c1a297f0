"""Expiry: warn before expires_at, freeze at it, delete once the grace period is over.

Warnings are exactly-once through Milestone rows keyed by the lead time AND the expiry
they warn about ("warn:3d:202601080900"): the row is inserted in the transaction that
queues the notice, and an extension (a new expires_at) gets fresh warnings.

A sandbox first seen inside several warning windows at once (a short TTL, or a daemon
that was down) gets ONE warning, for the nearest lead time; the farther ones are marked
done with it (listed in the event as "skipped") so they never arrive late and out of order.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from sandbox.durations import LabelledDuration, format_remaining
from sandbox.lifecycle import ACTIVE, DELETING, FROZEN, record_event, transition
from sandbox.models import Milestone, Sandbox
from sandbox.notices import queue_notice
from sandbox.service.app import App
from sandbox.service.changes import finish_destroy, freeze_sandbox
from sandbox.service.steps import Lease
from sandbox.sweeps.base import SweepResult, sweep
from sandbox.sweeps.common import ACTOR, Stop, each_due

log = logging.getLogger("sandbox.sweeps.expiry")

JOB = "expiry"
STAMP = "%Y%m%d%H%M"


def warning_key(lead: str, expires_at: datetime) -> str:
    return f"warn:{lead}:{expires_at.astimezone(timezone.utc):{STAMP}}"


def _stamp_sql(app: App) -> ColumnElement:
    """expires_at formatted like warning_key's stamp, in SQL (UTC on both databases)."""
    if app.is_postgres:
        return func.to_char(func.timezone("UTC", col(Sandbox.expires_at)), "YYYYMMDDHH24MI")
    return func.strftime("%Y%m%d%H%M", col(Sandbox.expires_at))  # SQLite stores naive UTC


def _leads(app: App) -> list[LabelledDuration]:
    return sorted(app.settings.daemon.warn_before, key=lambda lead: lead.delta, reverse=True)


@sweep(JOB)
def expire_due(app: App, result: SweepResult, now: datetime, stop: Stop | None) -> None:
    attempted: set[str] = set()  # one step per sandbox per run
    leads = _leads(app)
    if leads:
        each_due(app, result, [_warning_due(app, now, leads)],
                 lambda lease: _warn(app, lease.sandbox_id, now, leads), attempted=attempted, stop=stop)
    each_due(app, result, [col(Sandbox.state) == ACTIVE, col(Sandbox.expires_at) <= now],
             lambda lease: freeze_sandbox(app, lease.sandbox_id, actor=ACTOR, reason="expired", cause="expiry",
                                           lease=lease),
             attempted=attempted, stop=stop)
    each_due(app, result, [col(Sandbox.state) == FROZEN, col(Sandbox.delete_after) <= now],
             lambda lease: _end_grace(app, lease), attempted=attempted, stop=stop)
    each_due(app, result, [col(Sandbox.state) == DELETING,
                           or_(col(Sandbox.next_attempt_at).is_(None), col(Sandbox.next_attempt_at) <= now)],
             lambda lease: finish_destroy(app, lease.sandbox_id, actor=ACTOR, lease=lease),
             attempted=attempted, stop=stop)


def _warning_due(app: App, now: datetime, leads: list[LabelledDuration]) -> ColumnElement:
    """Active, not yet expired, inside some lead's window with that warning not yet sent."""
    stamp = _stamp_sql(app)
    windows = [
        and_(col(Sandbox.expires_at) <= now + delta,
             ~exists().where(col(Milestone.sandbox_id) == col(Sandbox.id),
                             col(Milestone.key) == literal(f"warn:{lead}:") + stamp))
        for lead, delta in leads
    ]
    return and_(col(Sandbox.state) == ACTIVE, col(Sandbox.expires_at) > now,
                col(Sandbox.expires_at) <= now + leads[0].delta, or_(*windows))


def _warn(app: App, sandbox_id: str, now: datetime, leads: list[LabelledDuration]) -> None:
    try:
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            if sandbox.state != ACTIVE or sandbox.expires_at <= now:
                return
            sent = set(session.execute(select(col(Milestone.key)).where(
                col(Milestone.sandbox_id) == sandbox_id, col(Milestone.key).startswith("warn:"))).scalars())
            crossed = [lead for lead, delta in leads
                       if sandbox.expires_at - delta <= now and warning_key(lead, sandbox.expires_at) not in sent]
            if not crossed:
                return
            nearest = crossed[-1]  # leads are sorted farthest first
            for lead in crossed:
                session.add(Milestone(sandbox_id=sandbox_id, key=warning_key(lead, sandbox.expires_at), at=now))
            # The time really left, not the lead: a short TTL crosses every window at once.
            left = format_remaining(sandbox.expires_at - app.now())
            queue_notice(session, sandbox, "expiry_warning", now, lead=nearest, left=left)
            record_event(session, sandbox_id=sandbox_id, actor=ACTOR, action="expiry_warning", at=now,
                         from_state=ACTIVE, to_state=ACTIVE,
                         detail={"lead": nearest, "left": left, "expires_at": sandbox.expires_at.isoformat(),
                                 "skipped": crossed[:-1]})
    except IntegrityError:  # another writer recorded the same milestone first: it warned
        log.info("warning_already_sent sandbox=%s", sandbox_id)


def _end_grace(app: App, lease: Lease) -> None:
    now = app.now()
    with app.session() as session:
        sandbox = session.get_one(Sandbox, lease.sandbox_id)
        if sandbox.state == FROZEN:
            if sandbox.delete_after is None:  # every freeze sets it
                raise ValueError(f"frozen sandbox {sandbox.id} has no delete_after")
            transition(session, sandbox, DELETING, actor=ACTOR, action="grace_ended", at=now,
                       detail={"delete_after": sandbox.delete_after.isoformat()}, next_attempt_at=now)
        elif sandbox.state != DELETING:
            return
    finish_destroy(app, lease.sandbox_id, actor=ACTOR, lease=lease)
