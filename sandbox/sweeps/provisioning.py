"""The provisioning queue: requested (and approved) or half-done sandboxes whose time has come.

Retries and backoff live in provision_sandbox (a retryable error leaves the sandbox
`provisioning` with next_attempt_at later; the last attempt makes it `failed`), so this
sweep only finds what is due and runs it, a few at a time per provider. A sandbox left
half-done by a crash keeps next_attempt_at <= now and its dead worker's lease; once the
lease runs out it is claimed again and the provider resumes from the saved steps.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from sandbox.lifecycle import PROVISIONING, REQUESTED
from sandbox.models import Sandbox
from sandbox.service.app import App
from sandbox.service.provisioning import provision_sandbox
from sandbox.service.steps import Lease
from sandbox.sweeps.base import SweepResult, claim_due, sweep
from sandbox.sweeps.common import ACTOR, Stop, run_one

log = logging.getLogger("sandbox.sweeps.provision")

JOB = "provision"


def _queued() -> ColumnElement:
    """Requested (approved when the template asks) or provisioning, with an attempt planned.

    Both states are rare next to active / deleted ones, so the state index finds them.
    """
    ready_request = and_(col(Sandbox.state) == REQUESTED,
                         or_(col(Sandbox.approval_required) == false(), col(Sandbox.approved_by).is_not(None)))
    return and_(or_(ready_request, col(Sandbox.state) == PROVISIONING), col(Sandbox.next_attempt_at).is_not(None))


def due_for_provisioning(now: datetime) -> ColumnElement:
    """Queued, and its attempt is due."""
    return and_(_queued(), col(Sandbox.next_attempt_at) <= now)


@sweep(JOB)
def provision_due(app: App, result: SweepResult, now: datetime, stop: Stop | None) -> None:
    due = due_for_provisioning(now)
    with app.session() as session:
        counts = dict(session.execute(
            select(col(Sandbox.provider), func.count()).where(due).group_by(col(Sandbox.provider))).all())
        # Backing off after a failed attempt: not due, yet the summary must not read "0/0" as "nothing there".
        result.waiting, result.next_at = session.execute(
            select(func.count(), func.min(col(Sandbox.next_attempt_at)))
            .where(_queued(), col(Sandbox.next_attempt_at) > now)).one()
    if not counts:
        return
    queue = _Queue(app, due, result, stop)
    workers: list[str] = []
    for provider, count in sorted(counts.items()):
        app.provider(provider)  # build it once here, not racing in the threads
        limit = app.settings.cloud(provider).concurrency
        workers += [provider] * max(1, min(limit, count))
    with ThreadPoolExecutor(max_workers=len(workers), thread_name_prefix="provision") as pool:
        for future in [pool.submit(_work, app, queue, provider) for provider in workers]:
            future.result()  # re-raises a lost database connection

class _Queue:
    """Hands each worker thread the lease of the next due sandbox of its provider, one
    claim at a time. The `attempted` set keeps a sandbox to one try per sweep.
    """

    def __init__(self, app: App, due: ColumnElement, result: SweepResult, stop: Stop | None):
        self.app = app
        self.stop = stop
        self.due = due
        self.result = result
        self.attempted: set[str] = set()
        self.lock = threading.Lock()

    def next(self, provider: str) -> Lease | None:
        with self.lock:
            if self.stop and self.stop():
                return None
            extra = [col(Sandbox.id).notin_(sorted(self.attempted))] if self.attempted else []
            leases = claim_due(self.app, self.due, col(Sandbox.provider) == provider, *extra, limit=1)
            if not leases:
                return None
            self.attempted.add(leases[0].sandbox_id)
            self.result.due += 1
            return leases[0]

    def count(self, outcome: SweepResult) -> None:
        with self.lock:
            self.result.done += outcome.done
            self.result.failed += outcome.failed
            self.result.errors += outcome.errors


def _work(app: App, queue: _Queue, provider: str) -> None:
    while (lease := queue.next(provider)) is not None:
        outcome = SweepResult(JOB)
        try:
            run_one(app, outcome, lease, lambda held: provision_sandbox(app, held.sandbox_id, actor=ACTOR, lease=held))
        finally:
            queue.count(outcome)
