"""The transition table: the only place a sandbox's state changes.

A transition is an UPDATE guarded by the row's version and its expected state, plus its
audit event, in the caller's transaction. Two processes racing on one sandbox: the
second UPDATE matches no row and raises ConcurrentUpdateError, so nothing moves twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from sandbox.clock import iso
from sandbox.errors import ConcurrentUpdateError, IllegalTransitionError
from sandbox.models import Event, Sandbox

REQUESTED = "requested"
PROVISIONING = "provisioning"
ACTIVE = "active"
FROZEN = "frozen"
DELETING = "deleting"
DELETED = "deleted"
FAILED = "failed"
DENIED = "denied"

STATES = (REQUESTED, PROVISIONING, ACTIVE, FROZEN, DELETING, DELETED, FAILED, DENIED)
LIVE_STATES = (REQUESTED, PROVISIONING, ACTIVE, FROZEN, DELETING)  # count against quotas
FINAL_STATES = (DELETED, DENIED)

TRANSITIONS: dict[str, tuple[str, ...]] = {
    REQUESTED: (PROVISIONING, DENIED, DELETED),  # DELETED: withdrawn before anything was made
    # Cancelled by its requester: DELETING when the cloud may hold something of it (torn
    # down as a destroy is), DELETED when nothing was asked of the cloud yet.
    PROVISIONING: (ACTIVE, FAILED, DELETING, DELETED),
    ACTIVE: (FROZEN, DELETING),
    FROZEN: (ACTIVE, DELETING),
    DELETING: (DELETED,),
    FAILED: (PROVISIONING, DELETING, DELETED),  # retried, or cleaned up
    DELETED: (),
    DENIED: (),
}


def can_move(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, ())


def record_event(session: Session, *, sandbox_id: str | None, actor: str, action: str,
                 at: datetime, detail: dict[str, Any] | None = None,
                 from_state: str | None = None, to_state: str | None = None) -> Event:
    event = Event(sandbox_id=sandbox_id, actor=actor, action=action, at=at,
                  from_state=from_state, to_state=to_state, detail=uniform_times(detail or {}))
    session.add(event)
    return event


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def uniform_times(detail: dict[str, Any]) -> dict[str, Any]:
    """A detail's timestamps in the one format of every other one (sandbox.clock.iso:
    2026-01-05T12:00:00Z), whether the caller gave a datetime or its isoformat() string
    (under a key named *_at or *_after, where a timestamp belongs). Other values, and
    anything nested (tag values, say), are kept exactly as given."""
    def uniform(key: str, value: Any) -> Any:
        if isinstance(value, datetime):
            return iso(value)
        if isinstance(value, str) and key.endswith(("_at", "_after")) and _ISO_TIME.match(value):
            return iso(datetime.fromisoformat(value.replace("Z", "+00:00")))
        return value
    return {key: uniform(key, value) for key, value in detail.items()}


def transition(session: Session, sandbox: Sandbox, to_state: str, *, actor: str, action: str,
               at: datetime, detail: dict[str, Any] | None = None, **changes: Any) -> Sandbox:
    """Move `sandbox` to `to_state`, setting `changes` too, and write the event.

    The caller commits. `sandbox` must be the row as the caller last read it: its version
    is the guard.
    """
    from_state = sandbox.state
    if not can_move(from_state, to_state):
        raise IllegalTransitionError(
            f"sandbox {sandbox.id} is {from_state}; it cannot become {to_state}"
        )
    values = {"state": to_state, "version": sandbox.version + 1, **changes}
    result = cast(CursorResult, session.execute(
        update(Sandbox)
        .where(col(Sandbox.id) == sandbox.id, col(Sandbox.version) == sandbox.version,
               col(Sandbox.state) == from_state)
        .values(**values)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:
        session.rollback()
        raise ConcurrentUpdateError(
            f"sandbox {sandbox.id} was changed by someone else while {action} ran; try again"
        )
    _mirror(sandbox, values)
    record_event(session, sandbox_id=sandbox.id, actor=actor, action=action, at=at,
                 detail=detail, from_state=from_state, to_state=to_state)
    return sandbox


def update_guarded(session: Session, sandbox: Sandbox, **changes: Any) -> Sandbox:
    """Change fields other than state under the same version guard (extend, progress)."""
    values = {"version": sandbox.version + 1, **changes}
    result = cast(CursorResult, session.execute(
        update(Sandbox)
        .where(col(Sandbox.id) == sandbox.id, col(Sandbox.version) == sandbox.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:
        session.rollback()
        raise ConcurrentUpdateError(f"sandbox {sandbox.id} was changed by someone else; try again")
    _mirror(sandbox, values)
    return sandbox


def _mirror(sandbox: Sandbox, values: dict[str, Any]) -> None:
    """Show what the UPDATE wrote on the caller's row as already stored: set as plain
    attributes, the session would flush the same UPDATE a second time at commit."""
    for key, value in values.items():
        set_committed_value(sandbox, key, value)
