"""What every sweep shares: its result, one-replica-at-a-time, and claiming due rows.

Several daemons may run against one PostgreSQL. A sweep runs on one replica at a time
(a session-level advisory lock keyed by the job name), and per-sandbox work is claimed
with SELECT ... FOR UPDATE SKIP LOCKED plus a lease, so no sandbox is handled twice.
On SQLite only one daemon may run at all (see sandbox.daemon), so the lock is a no-op.
"""

from __future__ import annotations

import functools
import logging
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from sandbox.models import Sandbox
from sandbox.service.app import App
from sandbox.service.steps import Lease, new_owner, no_live_lease


@dataclass
class SweepResult:
    job: str
    due: int = 0  # items found due this run
    done: int = 0  # items handled successfully
    failed: int = 0  # items that raised (each also in errors)
    skipped: bool = False  # another replica held the job's lock
    errors: list[str] = field(default_factory=list)
    cloud_requests: int = 0
    waiting: int = 0  # items whose next attempt is later (a provision backing off): not due yet
    next_at: datetime | None = None  # the soonest of those

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        if self.skipped:
            return f"{self.job}: skipped (running on another replica)"
        text_ = f"{self.job}: {self.done}/{self.due} done"
        if self.failed:
            text_ += f", {self.failed} failed (first: {self.errors[0]})"
        if self.waiting:
            soonest = f" (next at {self.next_at:%Y-%m-%d %H:%M}Z)" if self.next_at else ""
            text_ += f", {self.waiting} waiting for a later attempt{soonest}"
        return text_


log = logging.getLogger("sandbox.sweeps")
Stop = Callable[[], bool]


def sweep(job: str):
    """Turn `body(app, result, now, stop)` into a job `(app, *, stop=None) -> SweepResult`
    that runs on one replica at a time and logs one line when done."""
    def decorate(body: Callable[..., None]) -> Callable[..., SweepResult]:
        @functools.wraps(body)
        def run(app: App, *, stop: Stop | None = None) -> SweepResult:
            result = SweepResult(job)
            with exclusive(app, job) as held:
                if not held:
                    result.skipped = True
                    return result
                body(app, result, app.now(), stop)
            log.info("sweep_done job=%s due=%d done=%d failed=%d requests=%d",
                     job, result.due, result.done, result.failed, result.cloud_requests)
            return result
        return run
    return decorate


def _lock_key(job: str) -> int:
    return zlib.crc32(f"sandbox-sweep:{job}".encode()) & 0x7FFFFFFF


@contextmanager
def exclusive(app: App, job: str) -> Iterator[bool]:
    """Yields True if this replica holds the job's advisory lock for the duration."""
    if not app.is_postgres:
        yield True
        return
    with app.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(job)}).scalar()
        conn.commit()
        try:
            yield bool(got)
        finally:
            if got:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(job)})
                    conn.commit()
                except DBAPIError:
                    # The connection died with the lock: PostgreSQL already released it, and
                    # the sweep's own error (the database is gone) is the one worth reporting.
                    pass


def claim_due(app: App, *conditions: ColumnElement, limit: int = 100, after: str | None = None) -> list[Lease]:
    """Lease up to `limit` sandboxes matching `conditions` whose lease is free or expired,
    the longest-waiting first; with `after`, in id order past that id (keyset paging: the
    statement stays the same size however many a pass has claimed before).

    The SELECT skips rows other replicas have locked this instant, and the lease written
    in the same transaction keeps them away once it commits (other threads of this
    process too: a live lease is nobody's to take). The leases share one owner token.
    """
    now = app.now()
    owner = new_owner(app)
    query = select(col(Sandbox.id)).where(no_live_lease(now), *conditions)
    if after is None:
        query = query.order_by(col(Sandbox.next_attempt_at), col(Sandbox.id))
    else:
        query = query.where(col(Sandbox.id) > after).order_by(col(Sandbox.id))
    query = query.limit(limit)
    if app.is_postgres:
        query = query.with_for_update(skip_locked=True)
    with app.session() as session:
        ids = list(session.execute(query).scalars())
        if ids:
            session.execute(
                update(Sandbox).where(col(Sandbox.id).in_(ids))
                .values(lease_owner=owner, lease_until=now + app.settings.daemon.lease)
                .execution_options(synchronize_session=False))
    return [Lease(sandbox_id, owner) for sandbox_id in ids]
