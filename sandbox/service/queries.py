"""Read-only use cases: list, show, events, credentials."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, func, or_
from sqlmodel import col, select

from sandbox.config import Identity
from sandbox.errors import IllegalTransitionError, UsageError
from sandbox.lifecycle import (ACTIVE, DELETING, FAILED, FINAL_STATES, FROZEN, LIVE_STATES, PROVISIONING, REQUESTED,
                               STATES, record_event)
from sandbox.models import CostSample, Event, Member, Sandbox
from sandbox.service.access import (find_sandbox, iso_utc, member_emails, next_attempt_note, refuse, require,
                                    sandbox_view, visible_to)
from sandbox.service.app import App


LIST_FILTERS = ("state", "owner", "template", "provider", "department")


# The orders a page can take: key -> column (every one NOT NULL, so keyset paging holds).
SORT_KEYS = {"created": "created_at", "expires": "expires_at", "name": "name", "owner": "owner",
             "template": "template", "provider": "provider", "state": "state"}
DEFAULT_SORT = "-created"
TIME_KEYS = ("created", "expires")


def list_sandboxes(app: App, identity: Identity, *, everything: bool = False,
                   state: str | None = None) -> list[dict[str, Any]]:
    """Yours (owned or shared) that are still live; `everything`: every one you may see
    (admins: all; managers: their departments' too), ended ones included."""
    return list_sandbox_page(app, identity, mine=not everything, include_ended=everything,
                             filters={"state": state})["items"]


def list_sandbox_page(app: App, identity: Identity, *, mine: bool = True, include_ended: bool = False,
                      filters: dict[str, str | None] | None = None, limit: int | None = None,
                      cursor: str | None = None, sort: str = DEFAULT_SORT) -> dict[str, Any]:
    """A page of sandboxes, newest first unless `sort` names a key of SORT_KEYS ("-key":
    descending); `next_cursor` (opaque) fetches the following one in the same order.

    `mine`: owned or shared only; else every one the caller may see. Ended ones only with
    `include_ended` or a `state` filter."""
    given = {k: v for k, v in (filters or {}).items() if v}
    unknown = set(given) - set(LIST_FILTERS)
    if unknown:
        raise UsageError(f"unknown filter {sorted(unknown)[0]!r}; use: {', '.join(LIST_FILTERS)}")
    state = given.get("state")
    if state and state not in STATES:
        raise UsageError(f"--state {state!r} is not a state; use one of: {', '.join(STATES)}")
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    if key not in SORT_KEYS:
        raise UsageError(f"sort {sort!r} is not a sort key; use one of: {', '.join(SORT_KEYS)} (-KEY: descending)")
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"limit must be between 1 and {MAX_PAGE}")
    # Plain rows of the view's columns, not ORM objects: a page of 50 is half the work.
    column = getattr(Sandbox, SORT_KEYS[key])
    # The id breaks ties, in the same direction, so the cursor names one place in the order.
    query = PAGE if sort == DEFAULT_SORT else PAGE.order_by(None).order_by(
        *((col(column).desc(), col(Sandbox.id).desc()) if descending else (col(column), col(Sandbox.id))))
    if mine:
        shared = select(Member.sandbox_id).where(Member.email == identity.email)
        query = query.where(or_(col(Sandbox.owner) == identity.email, col(Sandbox.id).in_(shared)))
    elif not identity.is_admin:
        query = query.where(visible_to(identity))
    for name, value in given.items():
        query = query.where(getattr(Sandbox, name) == value.strip().lower() if name == "owner"
                            else getattr(Sandbox, name) == value)
    if not include_ended and not state:
        query = query.where(col(Sandbox.state).not_in(FINAL_STATES))
    if cursor:
        value, last_id = _decode_cursor(cursor, sort)
        after = (col(column) < value, col(Sandbox.id) < last_id) if descending else (
            col(column) > value, col(Sandbox.id) > last_id)
        query = query.where(or_(after[0], and_(col(column) == value, after[1])))
    rows = app.read(query.limit(limit + 1) if limit else query, lambda result: result.all())
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit else rows
    # Plain tuples read through a namespace: SQLAlchemy's Row attributes cost a page of 50
    # more than building its views did.
    page: list[Any] = [SimpleNamespace(**dict(zip(VIEW_NAMES, row))) for row in rows]
    return {"items": [sandbox_view(s) for s in page],
            "next_cursor": _encode_cursor(page[-1], sort) if more else None}


MAX_PAGE = 500
# What sandbox_view reads of a row without its members.
VIEW_COLUMNS = tuple(getattr(Sandbox, name) for name in (
    "id", "name", "provider", "template", "owner", "department", "state", "cloud_id", "location",
    "created_at", "expires_at", "frozen_at", "delete_after", "deleted_at", "extension_count", "budget_usd",
    "spend_usd", "approval_required", "approved_by", "last_error", "attempts", "next_attempt_at"))
VIEW_NAMES = tuple(column.key for column in VIEW_COLUMNS)
# Both keys descending, so ix_sandbox_created_id serves the order (read backwards) instead
# of a sort of every visible row on each page. Built once: each page only adds its filters.
PAGE = select(*VIEW_COLUMNS).order_by(col(Sandbox.created_at).desc(), col(Sandbox.id).desc())


def _encode_cursor(last: Any, sort: str) -> str:
    key = sort.removeprefix("-")
    value = getattr(last, SORT_KEYS[key])
    raw = json.dumps([sort, value.isoformat() if key in TIME_KEYS else value, last.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        made_for, value, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if made_for != sort:
            raise ValueError(made_for)
        key = sort.removeprefix("-")
        return (datetime.fromisoformat(value) if key in TIME_KEYS else str(value)), str(last_id)
    except (ValueError, TypeError):
        raise UsageError("cursor is not one this server handed out for this order; start again without it") from None


# Built once, and with one parameter per state rather than an expanding IN, which SQLAlchemy
# renders again on every execution: /me runs this on every call (bench/server_bench.py).
QUOTA_USED = select(func.count()).select_from(Sandbox).where(
    col(Sandbox.owner_subject) == bindparam("subject"), or_(*(col(Sandbox.state) == state for state in LIVE_STATES)))


def describe_caller(app: App, identity: Identity) -> dict[str, Any]:
    """Who the caller is to this server, and how much of their quota is in use."""
    used = app.scalar(QUOTA_USED.params(subject=identity.quota_key))
    limit = app.settings.quotas.max_live_per_user
    return {"email": identity.email, "roles": identity.roles, "department": identity.department,
            "manages": sorted(identity.manages), "quota": {"used": used, "limit": limit or None}}


def show_sandbox(app: App, identity: Identity, sandbox_ref: str) -> dict[str, Any]:
    """Its view with members, tags and steps; a frozen one says where it is now and that
    access is revoked; a provision or teardown that failed says what happens next."""
    now = app.now()
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref, identity, now=now)
        members = session.exec(select(Member).where(Member.sandbox_id == sandbox.id)
                               .order_by(col(Member.role).desc(), col(Member.email))).all()
        view = sandbox_view(sandbox, list(members))
        if sandbox.state == FROZEN:
            view = _after(view, "location", frozen_facts(session, sandbox))
    if sandbox.state in (PROVISIONING, FAILED, DELETING):
        max_attempts = app.settings.daemon.max_attempts
        note = next_attempt_note(sandbox.id, sandbox.state, attempts=sandbox.attempts, max_attempts=max_attempts,
                                 next_attempt_at=sandbox.next_attempt_at, now=now)
        extra = {"max_attempts": max_attempts} if sandbox.state != DELETING else {}
        view = _after(view, "next_attempt_at", {**extra, **({"next_attempt": note} if note else {})})
    return view


def frozen_facts(session, sandbox: Sandbox) -> dict[str, Any]:
    """Where a frozen sandbox is now (its freeze event's `location`, which the provider
    reports) and who may act in it: the row's location stays the home `extend` returns it to."""
    freeze = session.exec(select(Event).where(Event.sandbox_id == sandbox.id, Event.action == "freeze")
                          .order_by(col(Event.at).desc(), col(Event.id).desc()).limit(1)).first()
    now_at = (freeze.detail.get("location") if freeze is not None else None) or sandbox.location
    facts: dict[str, Any] = {"location": now_at}
    if now_at != sandbox.location:
        facts["home_location"] = sandbox.location
    facts["access_revoked"] = frozen_access(sandbox)
    return facts


def frozen_access(sandbox: Sandbox) -> str:
    """The `access_revoked` line of a frozen sandbox: until when, and how it comes back."""
    kept = f"resources kept until {iso_utc(sandbox.delete_after)}" if sandbox.delete_after else "resources kept"
    if sandbox.frozen_reason == "budget":
        return (f"frozen over its budget, until an admin raises it (sandbox admin budget {sandbox.id} --to USD); "
                f"{kept}")
    return f"until it is extended (sandbox extend {sandbox.id} --by 1d); {kept}"


def _after(view: dict[str, Any], key: str, extra: dict[str, Any]) -> dict[str, Any]:
    """`view` with `extra` set, new keys placed right after `key` (so a table reads in order)."""
    result: dict[str, Any] = {}
    for name, value in view.items():
        result[name] = extra.get(name, value)
        if name == key:
            result.update({k: v for k, v in extra.items() if k not in view})
    return result


def list_events(app: App, identity: Identity, sandbox_ref: str) -> list[dict[str, Any]]:
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref, identity, now=app.now())
        events = session.exec(select(Event).where(Event.sandbox_id == sandbox.id)
                              .order_by(col(Event.at), col(Event.id))).all()
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
    # Here, not at the top: `sandbox list` imports this module and needs none of them.
    from sandbox.provider import Member as PlanMember
    from sandbox.provider import Placement
    from sandbox.service.plans import build_plan
    from sandbox.service.steps import DbStepStore

    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref, identity, now=app.now())
        require(session, identity, sandbox, "read the credentials of", allow_members=True,
                allow_managers=False, attempted="read credentials", now=app.now())
        members = member_emails(session, sandbox.id)
        target = (member or "").strip().lower() or (
            identity.email if identity.email in members else sandbox.owner)
        if target != identity.email and not identity.is_admin:  # audited like every refusal
            refuse(session, identity, "read another member's credentials", sandbox.id, app.now(),
                   "only admins may read another member's credentials")
        if target not in members:
            raise UsageError(f"{target} is not a member of sandbox {sandbox.id}; members: {', '.join(members)}")
        if sandbox.state not in (ACTIVE, FROZEN) or sandbox.cloud_id is None:
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
    # Shown still (the owner needs the names to know what comes back), but they do not work now.
    access = {"access_revoked": frozen_access(sandbox)} if sandbox.state == FROZEN else {}
    return {"sandbox_id": sandbox.id, "name": sandbox.name, "provider": sandbox.provider,
            "state": sandbox.state, **access, "member": target, **info}



def count_awaiting_approval(app: App, identity: Identity) -> int:
    """Requests waiting for an approval the caller may see, not their own: the navigation's
    badge. One COUNT: building the views of every waiting request to count them cost the
    All sandboxes page a fifth of its time (bench/web_bench.py)."""
    query = select(func.count()).select_from(Sandbox).where(
        col(Sandbox.state) == REQUESTED, col(Sandbox.approval_required).is_(True),
        col(Sandbox.approved_by).is_(None), col(Sandbox.owner) != identity.email)
    if not identity.is_admin:
        query = query.where(visible_to(identity))
    return int(app.scalar(query) or 0)


def members_of(app: App, sandbox_ids: list[str]) -> dict[str, list[str]]:
    """The members of sandboxes a call has already shown the caller (one query for a page)."""
    if not sandbox_ids:
        return {}
    rows = app.read(select(col(Member.sandbox_id), col(Member.email)).where(col(Member.sandbox_id).in_(sandbox_ids))
                    .order_by(col(Member.role).desc(), col(Member.email)))
    found: dict[str, list[str]] = {}
    for sandbox_id, email in rows:
        found.setdefault(sandbox_id, []).append(email)
    return found


def daily_spend(app: App, sandbox_id: str, days: int = 60) -> list[dict]:
    """Spend per day of a sandbox a call has already shown the caller, oldest first."""
    rows = app.read(select(col(CostSample.day), func.sum(col(CostSample.amount_usd)))
                    .where(col(CostSample.sandbox_id) == sandbox_id)
                    .group_by(col(CostSample.day)).order_by(col(CostSample.day).desc()).limit(days))
    return [{"day": str(day), "spend_usd": round(float(amount or 0), 2)} for day, amount in reversed(rows)]
