"""Reconcile: a sandbox whose account or project was closed or deleted behind our back.

Per provider, one list_managed(); live sandboxes (active, frozen, deleting) whose
resource is listed as closed, or is not listed at all, are the due ones (found by
cloud_id in SQL, not by walking every sandbox). A resource merely missing from the
listing is probed once with read_tags: one that still answers was only moved out of the
managed OUs / folders, and is left alone (logged); one the cloud no longer knows is gone.
One the cloud refuses to show (an error not in the cloud's gone_codes, such as GCP's
PERMISSION_DENIED after an owner removed our access) is never taken for gone: it becomes
an "unreachable" finding and the sweep counts it failed, to retry.

A gone sandbox gets, once (Milestone "closed_out_of_band"), an event with what the cloud
said, its credentials dropped, and the move to `deleting`; then the ordinary teardown
(finish_destroy) ends it `deleted` and cleans what is left around it (the AWS budget,
the move to the closed OU). If that teardown fails, the expiry sweep retries it. A
`deleting` sandbox whose own teardown already asked for the close gets no such event:
that close was ours, only its last step was cut short.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, delete, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from sandbox.errors import ProviderError
from sandbox.lifecycle import ACTIVE, DELETING, FROZEN, record_event, transition
from sandbox.models import Credential, Milestone, Sandbox
from sandbox.provider import ManagedResource, cloud_named
from sandbox.service.app import App
from sandbox.service.changes import finish_destroy
from sandbox.service.steps import Lease
from sandbox.sweeps.base import SweepResult, sweep
from sandbox.sweeps.common import (ACTOR, Stop, each_due, fail_provider, placement_of, providers_with,
                                   resolve_findings, upsert_finding)

log = logging.getLogger("sandbox.sweeps.reconcile")

JOB = "reconcile"
WATCHED = (ACTIVE, FROZEN, DELETING)
MILESTONE = "closed_out_of_band"


@sweep(JOB)
def reconcile(app: App, result: SweepResult, now: datetime, stop: Stop | None) -> None:
    watched = [col(Sandbox.state).in_(WATCHED), col(Sandbox.cloud_id).is_not(None)]
    for provider_name in providers_with(app, *watched):
        try:
            managed = app.provider(provider_name).list_managed()
        except Exception as exc:  # noqa: BLE001
            fail_provider(result, provider_name, "list_managed", exc)
            continue
        result.cloud_requests += 1
        listed = {resource.cloud_id: resource for resource in managed}
        closed = sorted(cid for cid, resource in listed.items() if resource.state == "closed")
        gone_or_closed = or_(col(Sandbox.cloud_id).in_(closed), col(Sandbox.cloud_id).notin_(sorted(listed)))
        each_due(app, result, [col(Sandbox.provider) == provider_name, *watched, gone_or_closed],
                 lambda lease: _reconcile_one(app, result, provider_name, lease, listed, now), stop=stop)


def _reconcile_one(app: App, result: SweepResult, provider_name: str, lease: Lease,
                   listed: dict[str, ManagedResource], now: datetime) -> None:
    sandbox_id = lease.sandbox_id
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
    placement = placement_of(sandbox)
    resource = listed.get(placement.cloud_id)
    if resource is not None:
        cloud = {"cloud_state": resource.state, "location": resource.location}
    else:
        try:
            app.provider(provider_name).read_tags(placement)
            result.cloud_requests += 1
        except ProviderError as exc:
            if exc.retryable:
                raise
            if exc.code not in cloud_named(provider_name).gone_codes:
                # Refused, not gone (a GCP owner removed our access): an admin must look.
                upsert_finding(app, kind="unreachable", provider=provider_name, cloud_id=placement.cloud_id,
                               sandbox_id=sandbox_id, now=now, detail={"error": str(exc)})
                raise
            cloud = {"cloud_state": "not_found", "error": str(exc)}
        else:
            resolve_findings(app, kind="unreachable", provider=provider_name, now=now,
                             cloud_ids=[placement.cloud_id])
            log.warning("outside_managed_locations sandbox=%s cloud_id=%s", sandbox_id, placement.cloud_id)
            return
    if not (sandbox.state == DELETING and _close_was_ours(sandbox)):
        _mark_closed(app, sandbox_id, {"cloud_id": placement.cloud_id, **cloud}, now)
    finish_destroy(app, sandbox_id, actor=ACTOR, lease=lease)


def _close_was_ours(sandbox: Sandbox) -> bool:
    """Our own teardown asked the cloud to close / delete it and stopped short after."""
    return any(sandbox.progress.get(key) for key in cloud_named(sandbox.provider).close_steps)


def _mark_closed(app: App, sandbox_id: str, detail: dict, now: datetime) -> None:
    """Once: the event, credentials dropped, and (from active / frozen) the move to deleting."""
    try:
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            if session.get(Milestone, (sandbox_id, MILESTONE)) is not None:
                return
            session.add(Milestone(sandbox_id=sandbox_id, key=MILESTONE, at=now))
            if sandbox.state in (ACTIVE, FROZEN):
                transition(session, sandbox, DELETING, actor=ACTOR, action=MILESTONE, at=now,
                           detail=detail, next_attempt_at=now)
            else:
                record_event(session, sandbox_id=sandbox_id, actor=ACTOR, action=MILESTONE, at=now,
                             detail=detail, from_state=sandbox.state, to_state=sandbox.state)
            dropped = cast(CursorResult, session.execute(
                delete(Credential).where(col(Credential.sandbox_id) == sandbox_id))).rowcount
        log.warning("closed_out_of_band sandbox=%s detail=%s credentials_dropped=%s", sandbox_id, detail, dropped)
    except IntegrityError:
        log.info("closed_out_of_band_already_marked sandbox=%s", sandbox_id)
