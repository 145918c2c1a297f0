"""Driving one sandbox through its provider's provision steps, resumably."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Callable

from sqlmodel import select

from sandbox.errors import (ConcurrentUpdateError, DatabaseUnavailableError, IllegalTransitionError, ProviderError,
                            ProvisionCancelledError, SandboxError)
from sandbox.lifecycle import (ACTIVE, DELETING, FAILED, PROVISIONING, REQUESTED, record_event, transition,
                               update_guarded)
from sandbox.models import Member, Sandbox
from sandbox.notices import queue_notice
from sandbox.provider import cloud_named
from sandbox.service.access import next_attempt_note, sandbox_view
from sandbox.service.app import App
from sandbox.service.plans import build_plan
from sandbox.service.pool import lease_for_provision
from sandbox.service.steps import DbStepStore, Lease, leased

log = logging.getLogger("sandbox.provision")


def provision_sandbox(app: App, sandbox_id: str, *, actor: str,
                      progress: Callable[[str], None] | None = None, lease: Lease | None = None) -> dict[str, Any]:
    """Provision (or resume provisioning) one sandbox; returns its view when active.

    `lease`: the sandbox's, claimed (and released) by the caller, the provisioning sweep.
    """
    with leased(app, sandbox_id, lease) as lease:
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            if sandbox.state == REQUESTED:
                if sandbox.approval_required and not sandbox.approved_by:
                    raise IllegalTransitionError(
                        f"sandbox {sandbox.id} waits for an admin's approval (sandbox admin approve {sandbox.id})")
                transition(session, sandbox, PROVISIONING, actor=actor, action="provision_start",
                           at=app.now())
            elif sandbox.state != PROVISIONING:
                raise IllegalTransitionError(f"sandbox {sandbox.id} is {sandbox.state}; nothing to provision")
            plan = build_plan(sandbox, _members(session, sandbox_id))
            steps = DbStepStore(app, sandbox_id, progress, lease=lease, session=session, while_state=PROVISIONING)
        provider = app.provider(sandbox.provider)
        try:
            if cloud_named(sandbox.provider).stores_secrets:  # fail before the cloud is asked
                app.vault.require()
            lease_for_provision(app, sandbox.provider, plan, steps)  # a pooled account: no CreateAccount
            placement = provider.provision(plan, steps)
        except ProvisionCancelledError:
            return _tear_down_cancelled(app, sandbox_id, actor, lease)
        except ProviderError as exc:
            if _cancelled(app, sandbox_id):
                return _tear_down_cancelled(app, sandbox_id, actor, lease)
            return _record_failure(app, sandbox_id, actor, exc, retryable=exc.retryable)
        except (DatabaseUnavailableError, ConcurrentUpdateError):
            # Not the sandbox's fault: recorded as a failure (should the server be back by
            # now) it would wait for an admin. Left provisioning, the next sweep (or the
            # worker that took the lease over) resumes it.
            raise
        except SandboxError as exc:  # a missing secrets key, say: fixable, then retried by an admin
            if _cancelled(app, sandbox_id):
                return _tear_down_cancelled(app, sandbox_id, actor, lease)
            return _record_failure(app, sandbox_id, actor, exc, retryable=False)
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            if sandbox.state != DELETING:
                transition(session, sandbox, ACTIVE, actor=actor, action="provisioned", at=app.now(),
                           detail={"cloud_id": placement.cloud_id, "location": placement.location},
                           cloud_id=placement.cloud_id, location=placement.location or sandbox.location,
                           last_error=None, next_attempt_at=None)
                queue_notice(session, sandbox, "ready", app.now())
                return sandbox_view(sandbox)
        # Cancelled after the last step: what it made goes again.
        return _tear_down_cancelled(app, sandbox_id, actor, lease)


def _cancelled(app: App, sandbox_id: str) -> bool:
    """Did a cancel (destroy_sandbox, which needs no lease) move it to deleting meanwhile?"""
    with app.session() as session:
        return session.get_one(Sandbox, sandbox_id).state == DELETING


def _tear_down_cancelled(app: App, sandbox_id: str, actor: str, lease: Lease) -> dict[str, Any]:
    """The worker holds the lease the cancel could not take: it runs the teardown itself."""
    from sandbox.service.changes import finish_destroy

    log.info("provision_cancelled sandbox=%s", sandbox_id)
    return finish_destroy(app, sandbox_id, actor=actor, lease=lease)


def _record_failure(app: App, sandbox_id: str, actor: str, exc: SandboxError, *, retryable: bool):
    """Retryable: back off and stay `provisioning`; otherwise (or out of attempts) `failed`."""
    now = app.now()
    message = str(exc)
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        attempts = sandbox.attempts + 1
        max_attempts = app.settings.daemon.max_attempts
        will_retry = retryable and attempts < max_attempts
        if will_retry:
            delay = app.settings.daemon.retry_backoff * (2 ** (attempts - 1))
            next_attempt_at = now + min(delay, timedelta(hours=6))
            update_guarded(session, sandbox, attempts=attempts, last_error=message,
                           next_attempt_at=next_attempt_at)
            record_event(session, sandbox_id=sandbox_id, actor=actor, action="provision_retry", at=now,
                         detail={"error": message, "attempt": attempts, "next_attempt_at": next_attempt_at})
    if will_retry:
        # Raised after the session committed: raised inside it, the rollback undid the
        # attempt count and the backoff, so the sandbox was retried at once, forever.
        log.warning("provision_retry sandbox=%s attempt=%d error=%r", sandbox_id, attempts, message)
        note = next_attempt_note(sandbox_id, PROVISIONING, attempts=attempts, max_attempts=max_attempts,
                                 next_attempt_at=next_attempt_at, now=now)
        raise ProviderError(f"provisioning sandbox {sandbox_id} failed: {message}; {note}",
                            retryable=True, code=getattr(exc, "code", ""))
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        transition(session, sandbox, FAILED, actor=actor, action="provision_failed", at=now,
                   detail={"error": message, "attempt": attempts}, attempts=attempts, last_error=message,
                   next_attempt_at=None)
        queue_notice(session, sandbox, "provision_failed", now, error=message)
    log.error("provision_failed sandbox=%s error=%r", sandbox_id, message)
    note = next_attempt_note(sandbox_id, FAILED, attempts=attempts, max_attempts=max_attempts, next_attempt_at=None,
                             now=now)
    raise SandboxError(f"provisioning sandbox {sandbox_id} failed: {message}; {note}")


def _members(session, sandbox_id: str) -> list[Member]:
    return list(session.exec(select(Member).where(Member.sandbox_id == sandbox_id)).all())
