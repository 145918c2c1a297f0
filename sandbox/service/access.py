"""Finding a sandbox by id prefix, who may do what to it, and how it is shown."""

from __future__ import annotations

import re
from datetime import timezone
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from sandbox.config import Identity
from sandbox.errors import AmbiguousIdError, NotFoundError, PermissionDeniedError, UsageError
from sandbox.lifecycle import record_event
from sandbox.models import Member, Sandbox

_ID_PREFIX = re.compile(r"^[0-9a-f]{1,8}$")


def find_sandbox(session: Session, sandbox_ref: str, identity: Identity | None = None, *,
                 for_update: bool = False, now=None) -> Sandbox:
    """By id, unique id prefix or full name. Given the acting `identity`, only what it may
    see is searched: a sandbox it may not see is "not found" (the refusal audited), and an
    ambiguous prefix names only ids it could see, so ids cannot be probed."""
    ref = (sandbox_ref or "").strip().lower()
    if not ref:
        raise UsageError("give a sandbox id (see: sandbox list)")
    match = (or_(col(Sandbox.id).startswith(ref, autoescape=True), col(Sandbox.name) == ref)
             if _ID_PREFIX.match(ref) else col(Sandbox.name) == ref)
    query = select(Sandbox).where(match)
    if identity is not None and not identity.is_admin:
        query = query.where(visible_to(identity))
    if for_update:
        query = query.with_for_update()
    matches = session.exec(query.limit(2)).all()
    if not matches:
        if identity is not None and (hidden := session.exec(select(Sandbox.id).where(match).limit(1)).first()):
            refuse(session, identity, "see", hidden, now, "", error=NotFoundError(_not_found(sandbox_ref)))
        raise NotFoundError(_not_found(sandbox_ref))
    if len(matches) > 1:
        raise AmbiguousIdError(
            f"{sandbox_ref!r} matches several sandboxes ({matches[0].id}, {matches[1].id}, ...); "
            "give more characters of the id"
        )
    return matches[0]


def _not_found(sandbox_ref: str) -> str:
    return f"no sandbox with id {sandbox_ref!r}; see: sandbox list --all"


def sandbox_not_found(sandbox_ref: str) -> NotFoundError:
    """The error for an id that names no sandbox the caller may see, as find_sandbox says it."""
    return NotFoundError(_not_found(sandbox_ref))


def visible_to(identity: Identity) -> ColumnElement:
    """What a non-admin may see: owned, shared with them, or in a department they manage."""
    shared = select(Member.sandbox_id).where(Member.email == identity.email)
    clauses = [col(Sandbox.owner) == identity.email, col(Sandbox.id).in_(shared)]
    if identity.manages:
        clauses.append(col(Sandbox.department).in_(sorted(identity.manages)))
    return or_(*clauses)


def member_emails(session: Session, sandbox_id: str) -> list[str]:
    return list(session.exec(select(Member.email).where(Member.sandbox_id == sandbox_id)).all())


def require(session: Session, identity: Identity, sandbox: Sandbox, action: str, *,
            allow_members: bool = False, allow_managers: bool = True, attempted: str | None = None,
            now=None) -> None:
    """Owner, admin, manager of the sandbox's department (unless not allowed) or, if
    allowed, a member; a refusal is itself audited, as `attempted` (default: `action`,
    which the message follows with "sandbox ID")."""
    if identity.is_admin or identity.email == sandbox.owner:
        return
    if allow_managers and identity.manages_department(sandbox.department):
        return
    if allow_members and identity.email in member_emails(session, sandbox.id):
        return
    who = ", ".join(["the owner", *(["a member"] if allow_members else []),
                     *(["a manager of its department"] if allow_managers else [])])
    refuse(session, identity, attempted or action, sandbox.id, now,
           f"only {who} or an admin may {action} sandbox {sandbox.id}")


def require_approver(session: Session, identity: Identity, sandbox: Sandbox, action: str, *,
                     allow_self: bool, now=None) -> None:
    """A manager of the sandbox's department or an admin, and never the requester
    themself unless [approval] allow_self says so."""
    if not (identity.is_admin or identity.manages_department(sandbox.department)):
        refuse(session, identity, action, sandbox.id, now,
               f"only a manager of department {sandbox.department} or an admin may {action} sandbox {sandbox.id}")
    own = identity.email == sandbox.owner or (identity.subject and identity.subject == sandbox.owner_subject)
    if own and not allow_self:
        refuse(session, identity, action, sandbox.id, now,
               f"you requested sandbox {sandbox.id}; another manager or admin must {action} it")


def require_admin(session: Session, identity: Identity, action: str, *, sandbox_id: str | None = None,
                  now=None) -> None:
    if identity.is_admin:
        return
    refuse(session, identity, action, sandbox_id, now,
            f"only admins may {action}; ask an admin listed in [admin] users")


def require_manager_or_admin(session: Session, identity: Identity, action: str, *, now=None) -> None:
    """An admin, or a manager of some department; the caller limits a manager to theirs."""
    if identity.is_admin or identity.manages:
        return
    refuse(session, identity, action, None, now,
           f"only managers and admins {action}; a manager sees their own departments' sandboxes")


def refuse(session: Session, identity: Identity, action: str, sandbox_id: str | None, now,
           message: str, *, error: Exception | None = None) -> None:
    from datetime import datetime

    # The refusal is recorded in its own commit: the caller's transaction will roll back.
    session.rollback()
    record_event(session, sandbox_id=sandbox_id, actor=identity.email, action="denied_access",
                 at=now or datetime.now(timezone.utc), detail={"attempted": action})
    session.commit()
    raise error or PermissionDeniedError(message)


def sandbox_view(sandbox: Sandbox, members: list[Member] | None = None) -> dict[str, Any]:
    """The stable JSON shape of a sandbox; never carries secrets."""
    view: dict[str, Any] = {
        "id": sandbox.id,
        "name": sandbox.name,
        "provider": sandbox.provider,
        "template": sandbox.template,
        "owner": sandbox.owner,
        "department": sandbox.department,
        "state": sandbox.state,
        "cloud_id": sandbox.cloud_id,
        "location": sandbox.location,
        "created_at": iso_utc(sandbox.created_at),
        "expires_at": iso_utc(sandbox.expires_at),
        "frozen_at": iso_utc(sandbox.frozen_at),
        "delete_after": iso_utc(sandbox.delete_after),
        "deleted_at": iso_utc(sandbox.deleted_at),
        "extension_count": sandbox.extension_count,
        "budget_usd": None if sandbox.budget_usd is None else float(sandbox.budget_usd),
        "spend_usd": None if sandbox.spend_usd is None else float(sandbox.spend_usd),
        "approval_required": sandbox.approval_required,
        "approved_by": sandbox.approved_by,
        "last_error": sandbox.last_error,
        "attempts": sandbox.attempts,
        # When the daemon tries again: a provision backing off, a teardown deferred.
        "next_attempt_at": iso_utc(sandbox.next_attempt_at) if sandbox.state in RETRIED_STATES else None,
    }
    if members is not None:
        view["members"] = [{"email": m.email, "role": m.role} for m in members]
        view["tags"] = sandbox.desired_tags
        view["steps_done"] = sorted(k for k in sandbox.progress if not k.startswith("_"))
    return view


RETRIED_STATES = ("provisioning", "deleting")


def next_attempt_note(sandbox_id: str, state: str, *, attempts: int, max_attempts: int, next_attempt_at,
                      now) -> str | None:
    """What happens next to a provision or teardown that failed, for people: the one line a
    failed `request --wait` ends with, and `show`'s next_attempt."""
    cancel = f"cancel with: sandbox destroy {sandbox_id}"
    if state == "provisioning" and attempts and next_attempt_at is not None:
        return (f"attempt {attempts} of {max_attempts} failed; the daemon retries at "
                f"{clock_time(next_attempt_at, now)}; {cancel}")
    if state == "failed":
        return (f"failed after {attempts} attempt{'s' if attempts != 1 else ''}; an admin may retry it "
                f"(sandbox admin retry {sandbox_id}), or {cancel}")
    if state == "deleting" and next_attempt_at is not None and next_attempt_at > now:
        return f"the teardown is retried at {clock_time(next_attempt_at, now)}"
    return None


def clock_time(at, now) -> str:
    """12:05Z today (UTC), else 2026-01-08 12:05Z; rounded up, so never before it happens."""
    from datetime import timedelta

    at = at.astimezone(now.tzinfo) if now.tzinfo else at
    if at.second or at.microsecond:
        at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"{at:%H:%M}Z" if at.date() == now.date() else f"{at:%Y-%m-%d %H:%M}Z"


def iso_utc(value) -> str | None:
    if not value:
        return None
    if value.tzinfo is timezone.utc:  # what the database hands back: formatted directly, 4x faster
        return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (value.year, value.month, value.day,
                                                   value.hour, value.minute, value.second)
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")
