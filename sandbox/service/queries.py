"""Read-only use cases: list, show, events, credentials."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_
from sqlmodel import select

from sandbox.config import Identity
from sandbox.errors import IllegalTransitionError, UsageError
from sandbox.lifecycle import ACTIVE, FINAL_STATES, FROZEN, STATES, record_event
from sandbox.models import Event, Member, Sandbox
from sandbox.provider import Member as PlanMember
from sandbox.provider import Placement
from sandbox.service.access import find_sandbox, iso_utc, member_emails, refuse, require, sandbox_view
from sandbox.service.app import App
from sandbox.service.plans import build_plan
from sandbox.service.steps import DbStepStore


def list_sandboxes(app: App, identity: Identity, *, everything: bool = False,
                   state: str | None = None) -> list[dict[str, Any]]:
    """Yours (owned or shared) that are still live; `everything`: every user's (admins) and ended ones."""
    if state and state not in STATES:
        raise UsageError(f"--state {state!r} is not a state; use one of: {', '.join(STATES)}")
    with app.session() as session:
        query = select(Sandbox).order_by(Sandbox.created_at.desc(), Sandbox.id)
        if not (everything and identity.is_admin):
            shared = select(Member.sandbox_id).where(Member.email == identity.email)
            query = query.where(or_(Sandbox.owner == identity.email, Sandbox.id.in_(shared)))
        if state:
            query = query.where(Sandbox.state == state)
        elif not everything:
            query = query.where(Sandbox.state.not_in(FINAL_STATES))
        return [sandbox_view(s) for s in session.exec(query).all()]


def show_sandbox(app: App, identity: Identity, sandbox_ref: str) -> dict[str, Any]:
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref)
        require(session, identity, sandbox, "see", allow_members=True, now=app.now())
        members = session.exec(select(Member).where(Member.sandbox_id == sandbox.id)).all()
        return sandbox_view(sandbox, list(members))


def list_events(app: App, identity: Identity, sandbox_ref: str) -> list[dict[str, Any]]:
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref)
        require(session, identity, sandbox, "see the events of", allow_members=True, now=app.now())
        events = session.exec(select(Event).where(Event.sandbox_id == sandbox.id)
                              .order_by(Event.at, Event.id)).all()
        return [event_view(e) for e in events]


def event_view(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "sandbox_id": event.sandbox_id,
        "at": iso_utc(event.at),
        "actor": event.actor,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "detail": event.detail,
    }


def get_credentials(app: App, identity: Identity, sandbox_ref: str,
                    member: str | None = None) -> dict[str, Any]:
    """How the caller (or, for an admin, `member`) reaches the sandbox. Audited."""
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref)
        require(session, identity, sandbox, "read the credentials of", allow_members=True, now=app.now())
        members = member_emails(session, sandbox.id)
        target = (member or "").strip().lower() or (
            identity.email if identity.email in members else sandbox.owner)
        if target != identity.email and not identity.is_admin:  # audited like every refusal
            refuse(session, identity, "read another member's credentials of", sandbox.id, app.now(),
                   "only admins may read another member's credentials")
        if target not in members:
            raise UsageError(f"{target} is not a member of sandbox {sandbox.id}; members: {', '.join(members)}")
        if sandbox.state not in (ACTIVE, FROZEN):
            raise IllegalTransitionError(
                f"sandbox {sandbox.id} is {sandbox.state}; credentials exist only while it is active")
        rows = session.exec(select(Member).where(Member.sandbox_id == sandbox.id)).all()
        plan = build_plan(sandbox, list(rows))
        record_event(session, sandbox_id=sandbox.id, actor=identity.email, action="credentials_viewed",
                     at=app.now(), detail={"member": target})
    role = next(m.role for m in plan.members if m.email == target)
    info = app.provider(sandbox.provider).access_info(
        Placement(sandbox.cloud_id, sandbox.location), plan, PlanMember(target, role),
        DbStepStore(app, sandbox.id))
    return {"sandbox_id": sandbox.id, "name": sandbox.name, "provider": sandbox.provider,
            "state": sandbox.state, "member": target, **info}
