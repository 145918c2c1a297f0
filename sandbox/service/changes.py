"""Use cases that change a live sandbox: extend (and unfreeze), freeze, destroy."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import col, delete, select

from sandbox.config import Identity
from sandbox.clock import iso
from sandbox.durations import format_duration, parse_duration
from sandbox.errors import CloseQuotaError, ConcurrentUpdateError, IllegalTransitionError, ProviderError, UsageError
from sandbox.lifecycle import (ACTIVE, DELETED, DELETING, FAILED, FROZEN, PROVISIONING, REQUESTED,
                               record_event, transition, update_guarded)
from sandbox.models import Credential, Member, Sandbox
from sandbox.notices import queue_notice
from sandbox.provider import Placement, cloud_named
from sandbox.service.access import clock_time, find_sandbox, require, sandbox_view
from sandbox.service.app import App
from sandbox.service.plans import build_plan, cost_tags
from sandbox.service.pool import return_for_destroy
from sandbox.service.budgets import over_budget
from sandbox.service.steps import DbStepStore, Lease, claim, leased, release

log = logging.getLogger("sandbox.changes")


def _load(app: App, sandbox_id: str):
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        members = list(session.exec(select(Member).where(Member.sandbox_id == sandbox_id)).all())
    return sandbox, build_plan(sandbox, members)


def _placement(sandbox: Sandbox) -> Placement | None:
    cloud_id = sandbox.cloud_id or cloud_named(sandbox.provider).cloud_id_from(sandbox.progress)
    return Placement(cloud_id, sandbox.location) if cloud_id else None


def _asked_cloud(sandbox: Sandbox) -> bool:
    """Did a provision step run (so the cloud may hold something without its id)?"""
    return any(value for key, value in sandbox.progress.items() if not key.startswith("_"))


def _live_placement(sandbox: Sandbox) -> Placement:
    """Of an active or frozen sandbox: provisioned, so it has one."""
    placement = _placement(sandbox)
    if placement is None:
        raise IllegalTransitionError(f"sandbox {sandbox.id} has no {sandbox.provider} resources")
    return placement


def extend_sandbox(app: App, identity: Identity, sandbox_ref: str, by: str) -> dict[str, Any]:
    """Push expiry out; a frozen sandbox inside its grace period is unfrozen."""
    delta = parse_duration(by, "--by")
    now = app.now()
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref, identity, now=now)
        require(session, identity, sandbox, "extend", now=now)
    _extended_expiry(sandbox, delta, by, now)  # refuse early, before taking the lease
    with leased(app, sandbox.id) as lease:
        sandbox, plan = _load(app, sandbox.id)
        _extended_expiry(sandbox, delta, by, now)
        was_frozen = sandbox.state == FROZEN
        restored = _restore_access(app, sandbox, plan, lease) if was_frozen else {}
        tags = cost_tags(sandbox, {k: v for k, v in sandbox.desired_tags.items()
                                   if not k.startswith("sandbox-")})
        with app.session() as session:
            # Decided again on the row as it is now: a destroy needs no lease to move it to
            # deleting, and another extend may have finished since our first read.
            sandbox = session.get_one(Sandbox, sandbox.id)
            new_expiry = _extended_expiry(sandbox, delta, by, now)
            if sandbox.state != (FROZEN if was_frozen else ACTIVE):
                raise IllegalTransitionError(f"sandbox {sandbox.id} became {sandbox.state} while it was "
                                             "being extended; nothing was extended")
            changes = dict(expires_at=new_expiry, extension_count=sandbox.extension_count + 1)
            changes["desired_tags"] = {**tags, "sandbox-expires": new_expiry.strftime("%Y-%m-%dT%H:%MZ")}
            detail = {"by": format_duration(delta), "expires_at": iso(new_expiry)}
            if was_frozen:
                transition(session, sandbox, ACTIVE, actor=identity.email, action="extend", at=now,
                           detail={**detail, "unfrozen": True, **restored}, **UNFROZEN, **changes)
            else:
                update_guarded(session, sandbox, **changes)
                record_event(session, sandbox_id=sandbox.id, actor=identity.email, action="extend",
                             at=now, detail=detail, from_state=ACTIVE, to_state=ACTIVE)
        _retag(app, sandbox)
    return sandbox_view(sandbox)


# What a move back to active clears.
UNFROZEN = {"frozen_at": None, "delete_after": None, "frozen_reason": None}


def _extended_expiry(sandbox: Sandbox, delta: timedelta, by: str, now) -> Any:
    """The new expires_at of extending `sandbox` by `delta`, or the reason it may not be."""
    snapshot = sandbox.snapshot
    if sandbox.state not in (ACTIVE, FROZEN):
        raise IllegalTransitionError(f"sandbox {sandbox.id} is {sandbox.state}; only active or frozen ones can be extended")
    if sandbox.state == FROZEN and sandbox.delete_after and now >= sandbox.delete_after:
        raise IllegalTransitionError(f"sandbox {sandbox.id}'s grace period ended; it is being deleted")
    if sandbox.extension_count >= snapshot.max_extensions:
        raise UsageError(
            f"sandbox {sandbox.id} was already extended {sandbox.extension_count} times, the most "
            f"template {sandbox.template} allows; request a new sandbox")
    over = over_budget(sandbox)
    if over is not None:
        raise IllegalTransitionError(over)
    new_expiry = max(sandbox.expires_at, now) + delta
    if new_expiry - now > snapshot.max_ttl:
        raise UsageError(
            f"--by {by} would leave sandbox {sandbox.id} more than {format_duration(snapshot.max_ttl)} to live "
            f"(template {sandbox.template}'s maximum); extend by less")
    return new_expiry


def unfreeze_sandbox(app: App, sandbox_id: str, *, actor: str, action: str, lease: Lease,
                     detail: dict[str, Any]) -> dict[str, Any]:
    """Give a frozen sandbox back to its members, keeping its expiry (an admin's budget raise)."""
    sandbox, plan = _load(app, sandbox_id)
    if sandbox.state != FROZEN:
        raise IllegalTransitionError(f"sandbox {sandbox_id} is {sandbox.state}; only frozen ones unfreeze")
    restored = _restore_access(app, sandbox, plan, lease)
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        transition(session, sandbox, ACTIVE, actor=actor, action=action, at=app.now(),
                   detail={**detail, **restored}, **UNFROZEN)
    return sandbox_view(sandbox)


def _restore_access(app: App, sandbox: Sandbox, plan, lease: Lease) -> dict[str, Any]:
    """The provider's unfreeze, once everything it needs is known to work: a secrets key
    that cannot read the stored passwords fails here, before the cloud changes."""
    provider = app.provider(sandbox.provider)
    placement = _live_placement(sandbox)
    steps = DbStepStore(app, sandbox.id, lease=lease)
    steps.check_secrets()
    return provider.unfreeze(placement, plan, steps)


def _retag(app: App, sandbox: Sandbox) -> None:
    """Best effort: the cost-tag sweep repairs whatever this could not set."""
    try:
        app.provider(sandbox.provider).tag(_live_placement(sandbox), sandbox.desired_tags)
    except ProviderError as exc:
        log.warning("retag_deferred sandbox=%s error=%r", sandbox.id, str(exc))


def freeze_sandbox(app: App, sandbox_id: str, *, actor: str, reason: str, cause: str,
                   lease: Lease | None = None) -> dict[str, Any]:
    """Leave nobody but us able to act in the sandbox, keep its resources, start the grace
    period. `cause` ("expiry", "budget"): a budget freeze outlasts `extend`.

    `lease`: the sandbox's, claimed (and released) by the caller, a sweep.
    """
    with leased(app, sandbox_id, lease) as lease:
        sandbox, plan = _load(app, sandbox_id)
        if sandbox.state != ACTIVE:
            raise IllegalTransitionError(f"sandbox {sandbox_id} is {sandbox.state}; only active ones freeze")
        provider = app.provider(sandbox.provider)
        placement = _live_placement(sandbox)
        done = provider.freeze(placement, plan, DbStepStore(app, sandbox_id, lease=lease))
        now = app.now()
        delete_after = now + sandbox.snapshot.grace_period
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            transition(session, sandbox, FROZEN, actor=actor, action="freeze", at=now,
                       detail={"reason": reason, "delete_after": iso(delete_after), **done},
                       frozen_at=now, delete_after=delete_after, frozen_reason=cause)
            queue_notice(session, sandbox, "frozen", now, reason=reason, delete_after=delete_after)
        record_tampering(app, sandbox, done, now)
        return sandbox_view(sandbox)


def record_tampering(app: App, sandbox: Sandbox, done: dict[str, Any], now) -> None:
    """A compliance finding when the provider found enforcement's own access undone."""
    if done.get("tampering"):
        from sandbox.sweeps.common import upsert_finding

        upsert_finding(app, kind="tampering", provider=sandbox.provider, cloud_id=sandbox.cloud_id or "",
                       sandbox_id=sandbox.id, now=now, detail={"problem": done["tampering"]})
        log.warning("tampering sandbox=%s problem=%r", sandbox.id, done["tampering"])


def destroy_sandbox(app: App, identity: Identity, sandbox_ref: str) -> dict[str, Any]:
    """Tear a sandbox down; a request (approved or not) or one still provisioning is
    cancelled: see _cancel."""
    now = app.now()
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref, identity, now=now)
        require(session, identity, sandbox, "destroy", now=now)
        if sandbox.state == FAILED and _placement(sandbox) is None and not _asked_cloud(sandbox):
            transition(session, sandbox, DELETED, actor=identity.email, action="withdraw", at=now,
                       deleted_at=now)
            return sandbox_view(sandbox)
        if sandbox.state in (ACTIVE, FROZEN, FAILED):
            transition(session, sandbox, DELETING, actor=identity.email, action="destroy", at=now,
                       next_attempt_at=now)
        elif sandbox.state not in (DELETING, REQUESTED, PROVISIONING):
            raise IllegalTransitionError(f"sandbox {sandbox.id} is already {sandbox.state}")
    if sandbox.state in (REQUESTED, PROVISIONING):
        cancelled = _cancel(app, identity, sandbox.id)
        if cancelled is None:  # it became active or failed meanwhile: destroyed as such
            return destroy_sandbox(app, identity, sandbox.id)
        return cancelled
    try:
        return finish_destroy(app, sandbox.id, actor=identity.email)
    except ConcurrentUpdateError:
        # The destroy is recorded (deleting) but another process holds the sandbox this
        # instant (a freeze, a sweep): an error here would tell the owner it failed. The
        # daemon's expiry sweep finishes the teardown.
        with app.session() as session:
            return {**sandbox_view(session.get_one(Sandbox, sandbox.id)),
                    "note": "another process is working on it; the daemon finishes the teardown"}


def _cancel(app: App, identity: Identity, sandbox_id: str) -> dict[str, Any] | None:
    """Cancel a request or a provisioning sandbox, releasing its quota; None when it is
    neither any more.

    Withdrawn straight to deleted when nothing was asked of the cloud yet; otherwise through
    deleting and the teardown a destroy runs. A worker provisioning it this moment holds
    its lease: the sandbox is moved to deleting without it (the move is version-guarded),
    and the worker stops before its next step and runs the teardown itself.
    """
    lease = claim(app, sandbox_id)
    try:
        outcome: dict[str, Any] | str | None = None
        for attempt in (1, 2):
            try:
                outcome = _cancel_now(app, identity, sandbox_id, lease)
                break
            except ConcurrentUpdateError:  # a worker recorded an attempt meanwhile: decide again
                if attempt == 2:
                    raise
        if not isinstance(outcome, str):
            return outcome
        return finish_destroy(app, sandbox_id, actor=identity.email, lease=lease)
    finally:
        if lease is not None:
            release(app, lease)


def _cancel_now(app: App, identity: Identity, sandbox_id: str, lease: Lease | None) -> dict[str, Any] | str | None:
    """One decision on the row as it is now: a view, None, or "teardown" (it is deleting)."""
    now = app.now()
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        detail = {"attempts": sandbox.attempts, "last_error": sandbox.last_error} if sandbox.attempts else {}
        done = {"deleted_at": now, "next_attempt_at": None, "last_error": None}
        if sandbox.state == REQUESTED:
            transition(session, sandbox, DELETED, actor=identity.email, action="withdraw", at=now, **done)
            return sandbox_view(sandbox)
        if sandbox.state != PROVISIONING:
            return None
        if lease is None:
            transition(session, sandbox, DELETING, actor=identity.email, action="cancel", at=now,
                       detail={**detail, "worker_busy": True}, next_attempt_at=now)
            return {**sandbox_view(sandbox),
                    "note": "a worker is provisioning it this moment: it stops before its next step and tears "
                            "down what it made (or the daemon does, should that worker have died)"}
        placement = _placement(sandbox)
        if placement is None and not _asked_cloud(sandbox):
            transition(session, sandbox, DELETED, actor=identity.email, action="cancel", at=now, detail=detail,
                       **done)
            return sandbox_view(sandbox)
        if placement is None:
            # Asked for, its id not known yet (an AWS CreateAccount in flight): torn down now,
            # it would be left behind. The next attempt learns the id.
            when = clock_time(sandbox.next_attempt_at, now) if sandbox.next_attempt_at else "soon"
            raise IllegalTransitionError(
                f"sandbox {sandbox.id} asked {cloud_named(sandbox.provider).title} for resources whose id is not "
                f"known yet, so they cannot be torn down; cancel it after the next attempt ({when})")
        transition(session, sandbox, DELETING, actor=identity.email, action="cancel", at=now, detail=detail,
                   next_attempt_at=now)
    return "teardown"


def finish_destroy(app: App, sandbox_id: str, *, actor: str, lease: Lease | None = None) -> dict[str, Any]:
    """Run (or resume) the provider's teardown of a `deleting` sandbox.

    `lease`: the sandbox's, claimed (and released) by the caller, a sweep.
    """
    with leased(app, sandbox_id, lease) as lease:
        sandbox, plan = _load(app, sandbox_id)
        if sandbox.state != DELETING:
            raise IllegalTransitionError(f"sandbox {sandbox_id} is {sandbox.state}, not deleting")
        placement = _placement(sandbox)
        if placement is None and _asked_cloud(sandbox):
            # Asked for, its id never learnt (a CreateAccount whose polling gave up): the
            # provider finds what it made by the sandbox's deterministic name or e-mail.
            placement = Placement("", sandbox.location)
        detail: dict[str, Any] = {}
        try:
            if placement is not None:
                steps = DbStepStore(app, sandbox_id, lease=lease)
                # A pooled account goes back to cleaning instead of being closed.
                detail = (return_for_destroy(app, sandbox.provider, placement, plan, steps)
                          or app.provider(sandbox.provider).destroy(placement, plan, steps))
        except CloseQuotaError as exc:
            # Not a failure: AWS lets us close 10% of accounts per 30 days; try again later.
            _defer_destroy(app, sandbox_id, actor, exc)
            with app.session() as session:
                return {**sandbox_view(session.get_one(Sandbox, sandbox_id)), "note": str(exc)}
        except ProviderError as exc:
            _defer_destroy(app, sandbox_id, actor, exc)
            raise
        now = app.now()
        record_tampering(app, sandbox, detail, now)
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            transition(session, sandbox, DELETED, actor=actor, action="deleted", at=now,
                       detail=detail or {}, deleted_at=now, last_error=None, next_attempt_at=None)
            session.exec(delete(Credential).where(col(Credential.sandbox_id) == sandbox_id))
            queue_notice(session, sandbox, "deleted", now)
        return sandbox_view(sandbox)


def _defer_destroy(app: App, sandbox_id: str, actor: str, exc: ProviderError) -> None:
    """Stay `deleting`: the close quota frees up over 30 days, other errors may pass too."""
    now = app.now()
    wait = timedelta(days=1) if isinstance(exc, CloseQuotaError) else timedelta(minutes=30)
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        sandbox.last_error = str(exc)
        sandbox.next_attempt_at = now + wait
        session.add(sandbox)
        record_event(session, sandbox_id=sandbox_id, actor=actor,
                     action="close_deferred" if isinstance(exc, CloseQuotaError) else "destroy_retry",
                     at=now, detail={"error": str(exc), "next_attempt_at": iso(now + wait)},
                     from_state=DELETING, to_state=DELETING)
