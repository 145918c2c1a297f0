"""Asking for a sandbox, and the admin's answer when its template needs approval."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from sandbox.config import Identity
from sandbox.durations import format_duration, parse_duration
from sandbox.errors import IllegalTransitionError, QuotaExceededError, UsageError
from sandbox.lifecycle import DENIED, LIVE_STATES, REQUESTED, record_event, transition, update_guarded
from sandbox.models import Member, Sandbox
from sandbox.naming import check_email, check_name, new_sandbox_id, sandbox_name
from sandbox.provider import cloud_named
from sandbox.service.access import find_sandbox, require_approver, sandbox_view
from sandbox.service.app import App
from sandbox.service.plans import cost_tags, department_location
from sandbox.templates import find_template


def request_sandbox(app: App, identity: Identity, template_name: str, *, ttl: str | None = None,
                    members: list[str] | None = None, name: str | None = None, wait: bool = False,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Record a request (quota-checked atomically); with `wait`, provision it right away.
    `name` replaces the owner's handle in the sandbox's name."""
    template = find_template(app.settings.template_dirs(), template_name)
    owner = check_email(identity.email)
    if name:
        check_name(name)
    others = sorted({check_email(m) for m in members or []} - {owner})
    outside = [m for m in [owner, *others] if not app.settings.auth.domain_allowed(m)]
    if outside:
        raise UsageError(f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} outside the allowed "
                         f"domains ({', '.join(app.settings.auth.allowed_domains)}); members must be colleagues")
    if others and template.kind == "individual":
        raise UsageError(f"template {template.name} is for one person; use a group template for --member")
    # "" is not "the default": a script whose variable came out empty is told so.
    lifetime = parse_duration(ttl, "--ttl") if ttl is not None else template.default_ttl
    if lifetime < template.min_ttl:
        raise UsageError(
            f"--ttl {ttl} is shorter than template {template.name} allows (at least "
            f"{format_duration(template.min_ttl)}; m means minutes, so for a month say 30d)")
    if lifetime > template.max_ttl:
        raise UsageError(
            f"--ttl {ttl} is longer than template {template.name} allows "
            f"({format_duration(template.max_ttl)}); ask for less"
        )
    location = department_location(app.settings, template.provider, identity.department)
    if cloud_named(template.provider).stores_secrets:  # fail before anything is recorded
        app.vault.require()
    now = app.now()
    for _attempt in range(3):
        sandbox_id = new_sandbox_id()
        try:
            with app.session() as session:
                _check_quotas(app, session, identity.quota_key, template.name, template.max_live)
                sandbox = Sandbox(
                    id=sandbox_id, name=sandbox_name(owner, sandbox_id, name), provider=template.provider,
                    template=template.name, owner=owner, owner_subject=identity.quota_key,
                    department=identity.department,
                    state=REQUESTED, location=location, created_at=now, expires_at=now + lifetime,
                    budget_usd=template.budget_usd, approval_required=template.approval_required,
                    plan=template.snapshot().to_json(), next_attempt_at=now,
                )
                sandbox.desired_tags = cost_tags(sandbox, template.tags)
                session.add(sandbox)
                session.flush()
                session.add(Member(sandbox_id=sandbox_id, email=owner, role="owner", added_at=now))
                for email in others:
                    session.add(Member(sandbox_id=sandbox_id, email=email, role="member", added_at=now))
                record_event(session, sandbox_id=sandbox_id, actor=owner, action="request", at=now,
                             to_state=REQUESTED,
                             detail={"template": template.name, "ttl": format_duration(lifetime),
                                     "members": others})
            break
        except IntegrityError:  # an id collision: draw another
            continue
    else:  # pragma: no cover - three 32-bit collisions in a row
        raise UsageError("could not allocate a sandbox id; try again")
    if wait and not template.approval_required:
        from sandbox.service.provisioning import provision_sandbox

        return provision_sandbox(app, sandbox_id, actor=owner, progress=progress)
    return sandbox_view(sandbox)


def _check_quotas(app: App, session: Session, owner: str, template: str, template_max: int) -> None:
    """Serialise competing requests, then count: two requests can't both squeeze under a limit.

    `owner` is the verified subject, so one person's plus-addresses share one quota.

    PostgreSQL: transaction-scoped advisory locks per owner and per template. SQLite: the
    transaction began with BEGIN IMMEDIATE, which already admits one writer at a time.
    """
    if app.is_postgres:
        for key in sorted({f"quota:user:{owner}", f"quota:template:{template}"}):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    limit = app.settings.quotas.max_live_per_user
    live = session.exec(
        select(func.count()).select_from(Sandbox)
        .where(Sandbox.owner_subject == owner, col(Sandbox.state).in_(LIVE_STATES))
    ).one()
    if limit and live >= limit:
        raise QuotaExceededError(
            f"you already have {live} live sandboxes (limit {limit}); destroy one first (sandbox list)"
        )
    if template_max:
        live_template = session.exec(
            select(func.count()).select_from(Sandbox)
            .where(Sandbox.template == template, col(Sandbox.state).in_(LIVE_STATES))
        ).one()
        if live_template >= template_max:
            raise QuotaExceededError(
                f"template {template} already has {live_template} live sandboxes (limit {template_max}); "
                "try again later or pick another template"
            )


def approve_sandbox(app: App, identity: Identity, sandbox_ref: str, reason: str = "") -> dict[str, Any]:
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref, identity, now=app.now())
        require_approver(session, identity, sandbox, "approve", allow_self=app.settings.approval.allow_self,
                         now=app.now())
        if sandbox.state != REQUESTED or not sandbox.approval_required or sandbox.approved_by:
            raise IllegalTransitionError(
                f"sandbox {sandbox.id} is {sandbox.state}"
                f"{' and already approved' if sandbox.approved_by else ''}; nothing to approve"
            )
        update_guarded(session, sandbox, approved_by=identity.email, next_attempt_at=app.now())
        record_event(session, sandbox_id=sandbox.id, actor=identity.email, action="approve",
                     at=app.now(), from_state=REQUESTED, to_state=REQUESTED,
                     detail={"reason": reason} if reason else {})
    return sandbox_view(sandbox)


def deny_sandbox(app: App, identity: Identity, sandbox_ref: str, reason: str = "") -> dict[str, Any]:
    with app.session() as session:
        sandbox = find_sandbox(session, sandbox_ref, identity, now=app.now())
        require_approver(session, identity, sandbox, "deny", allow_self=app.settings.approval.allow_self,
                         now=app.now())
        if sandbox.state != REQUESTED:
            raise IllegalTransitionError(f"sandbox {sandbox.id} is {sandbox.state}; only requests can be denied")
        transition(session, sandbox, DENIED, actor=identity.email, action="deny", at=app.now(),
                   detail={"reason": reason} if reason else {})
    return sandbox_view(sandbox)
