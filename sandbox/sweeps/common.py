"""Helpers the sweeps share: claim-and-handle loops, findings, which providers to visit."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import Row, and_, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from sandbox.errors import DatabaseUnavailableError
from sandbox.models import Finding, Sandbox
from sandbox.provider import Placement, clouds
from sandbox.service.app import App
from sandbox.service.steps import Lease, release
from sandbox.sweeps.base import Stop, SweepResult, claim_due

log = logging.getLogger("sandbox.sweeps")

ACTOR = "daemon"  # the actor of every event a sweep writes
BATCH = 50  # sandboxes leased at a time; small enough that a lease never runs out mid-batch
IN_CHUNK = 500  # ids per IN (...) list


def each_due(app: App, result: SweepResult, conditions: Iterable[ColumnElement],
             handle: Callable[[Lease], Any], *, attempted: set[str] | None = None,
             batch: int = BATCH, stop: Stop | None = None) -> None:
    """Claim due sandboxes batch by batch and hand each one's lease to `handle`; one
    failure never stops the rest.

    Batches go in id order, each past the last one's ids, so a sandbox whose handler failed
    and left it still matching is not handled twice in a run. `attempted` (shared by the
    steps of one sweep) does the same across steps: those an earlier step handled are
    skipped. `stop` (the daemon's shutdown flag) is checked between sandboxes; the rest of
    a claimed batch is released untouched.
    """
    conditions = list(conditions)
    if attempted:
        conditions.append(col(Sandbox.id).notin_(sorted(attempted)))
    last = ""  # below every id
    while not (stop and stop()):
        leases = claim_due(app, *conditions, limit=batch, after=last)
        if not leases:
            return
        last = leases[-1].sandbox_id
        if attempted is not None:
            attempted.update(lease.sandbox_id for lease in leases)
        result.due += len(leases)
        left = list(leases)
        try:
            while left and not (stop and stop()):
                run_one(app, result, left.pop(0), handle)
        finally:  # stopping: hand back what was not started (a lost database: they run out)
            if left and stop and stop():
                release(app, *left)
        if left:
            return


def run_one(app: App, result: SweepResult, lease: Lease, handle: Callable[[Lease], Any]) -> None:
    """Handle one leased sandbox, count the outcome, give the lease back."""
    try:
        handle(lease)
        result.done += 1
    except DatabaseUnavailableError:
        raise  # every next item would fail too: let the runner log, wait and retry the sweep
    except Exception as exc:  # noqa: BLE001 - one sandbox's error never stops a sweep
        result.failed += 1
        result.errors.append(f"sandbox {lease.sandbox_id}: {exc}")
        log.warning("sweep_item_failed job=%s sandbox=%s error=%r", result.job, lease.sandbox_id, str(exc))
    finally:
        release(app, lease)


def chunks(values: list, size: int = IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def providers_with(app: App, *conditions: ColumnElement) -> list[str]:
    """Installed clouds that have at least one sandbox matching `conditions` (an index probe
    each). A cloud nobody ever used is not visited: its credentials may not even exist. One
    with sandboxes but no table in the config is visited, and fails naming the table."""
    found = []
    with app.session() as session:
        for name in clouds():
            query = select(exists().where(col(Sandbox.provider) == name, *conditions))
            if session.execute(query).scalar():
                found.append(name)
    return found


def cloud_id_of(sandbox: Sandbox | Row) -> str:
    """Of a sandbox a sweep chose for having one (a cloud_id, once set, is never cleared)."""
    if sandbox.cloud_id is None:
        raise ValueError(f"sandbox {sandbox.id} has no cloud_id")
    return sandbox.cloud_id


def placement_of(sandbox: Sandbox | Row) -> Placement:
    return Placement(cloud_id_of(sandbox), sandbox.location)


def fail_provider(result: SweepResult, provider: str, what: str, exc: Exception) -> None:
    result.failed += 1
    result.errors.append(f"{provider} {what}: {exc}")
    log.warning("sweep_provider_failed job=%s provider=%s step=%s error=%r",
                result.job, provider, what, str(exc))


def upsert_finding(app: App, *, kind: str, provider: str, cloud_id: str, now: datetime,
                   detail: dict[str, Any], sandbox_id: str | None = None,
                   resolved: bool = False) -> None:
    """One row per (kind, provider, cloud_id): first_seen kept, last_seen moved, reopened
    unless `resolved` (a drift we repaired on the spot is resolved when recorded)."""
    for _attempt in range(2):
        try:
            with app.session() as session:
                row = session.execute(select(Finding).where(
                    col(Finding.kind) == kind, col(Finding.provider) == provider,
                    col(Finding.cloud_id) == cloud_id)).scalar_one_or_none()
                if row is None:
                    row = Finding(kind=kind, provider=provider, cloud_id=cloud_id, first_seen=now,
                                  last_seen=now, detail={})
                row.sandbox_id = sandbox_id
                row.detail = detail
                row.last_seen = now
                row.resolved_at = now if resolved else None
                session.add(row)
            return
        except IntegrityError:  # inserted by a concurrent writer: update theirs
            continue


def resolve_findings(app: App, *, kind: str, provider: str, now: datetime,
                     still_open: Iterable[str] | None = None, cloud_ids: Iterable[str] | None = None) -> int:
    """Close open findings of `kind`: those NOT in `still_open`, or those IN `cloud_ids`."""
    conditions = [col(Finding.kind) == kind, col(Finding.provider) == provider, col(Finding.resolved_at).is_(None)]
    if cloud_ids is not None:
        ids = sorted(set(cloud_ids))
        if not ids:
            return 0
        conditions.append(col(Finding.cloud_id).in_(ids))
    with app.session() as session:
        open_ids = list(session.execute(select(col(Finding.id), col(Finding.cloud_id)).where(and_(*conditions))))
        keep = set(still_open or ()) if cloud_ids is None else set()
        to_close = [row_id for row_id, cloud_id in open_ids if cloud_id not in keep]
        for part in chunks(to_close):
            session.execute(update(Finding).where(col(Finding.id).in_(part)).values(resolved_at=now)
                            .execution_options(synchronize_session=False))
    return len(to_close)
