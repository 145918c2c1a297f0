"""compliance: is the program under control? One list of findings, by category:

  tampering      enforcement's own access undone in a sandbox (the AWS access role deleted or
                 re-trusted), found by a freeze or destroy
  guardrail      a cloud-wide control missing or edited (an AWS service control policy)
  unreachable    a live sandbox its cloud refuses to show us (GCP PERMISSION_DENIED): not gone
  drift          tags/labels found changed (status "repaired" once the tags sweep set them
                 again, "open" if it could not)
  orphan         an account / project in a managed OU / folder that no sandbox owns
  unknown_spend  a live sandbox whose cloud cannot tell its spend
  past_expiry    active after expires_at: should have been frozen (should be none)
  past_grace     frozen after delete_after: should be deleting (should be none)
  failed         a provision that failed (state failed now)

Sweep findings are listed when open, or when they were seen in the period; the other
categories are the state now. Totals also count the period's "tags_repaired" and
"provision_failed" events.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from sandbox.lifecycle import ACTIVE, FAILED, FROZEN
from sandbox.models import Event, Finding, Sandbox
from sandbox.reports.base import Report, Section, count, iso
from sandbox.reports.query import ReportParams, owned_scope, sandbox_scope

CATEGORIES = ("tampering", "guardrail", "unreachable", "drift", "orphan", "unknown_spend", "past_expiry",
              "past_grace", "failed")
COLUMNS = ("category", "status", "sandbox_id", "owner", "department", "provider", "cloud_id", "first_seen",
           "last_seen", "resolved_at", "detail")


def build_compliance(session: Session, p: ReportParams) -> Report:
    section = findings(session, p)
    return Report(
        kind="compliance", title="Compliance", generated_at=p.now, parameters=p.period(),
        totals=_totals(session, p), sections=[section],
    )


def findings(session: Session, p: ReportParams) -> Section:
    rows = _sweep_findings(session, p) + _overdue(session, p) + _failed(session, p)
    return Section("findings", "Compliance findings", COLUMNS, rows,
                   note="past_expiry, past_grace and failed should be empty")


def _seen_in_period(p: ReportParams):
    return and_(col(Finding.first_seen) < p.end,
                or_(col(Finding.resolved_at).is_(None), col(Finding.resolved_at) >= p.start))


def _sweep_findings(session: Session, p: ReportParams) -> list[dict]:
    order = case({kind: n for n, kind in enumerate(CATEGORIES)}, value=col(Finding.kind), else_=len(CATEGORIES))
    query = (
        select(col(Finding.kind), col(Finding.sandbox_id), col(Sandbox.owner), col(Sandbox.department),
               col(Finding.provider), col(Finding.cloud_id), col(Finding.first_seen), col(Finding.last_seen),
               col(Finding.resolved_at), col(Finding.detail))
        .outerjoin(Sandbox, col(Sandbox.id) == col(Finding.sandbox_id))
        .where(_seen_in_period(p), *owned_scope(p, col(Finding.sandbox_id)))
        .order_by(order, col(Finding.first_seen), col(Finding.id))
    )
    return [{
        "category": r.kind,
        "status": "open" if r.resolved_at is None else ("repaired" if r.kind == "drift" else "resolved"),
        "sandbox_id": r.sandbox_id, "owner": r.owner, "department": r.department, "provider": r.provider,
        "cloud_id": r.cloud_id, "first_seen": iso(r.first_seen), "last_seen": iso(r.last_seen),
        "resolved_at": iso(r.resolved_at), "detail": r.detail or {},
    } for r in session.execute(query)]


def _is_overdue(p: ReportParams):
    """Active past expiry, frozen past the grace period: the expiry sweep is behind or failing."""
    return or_(and_(col(Sandbox.state) == ACTIVE, col(Sandbox.expires_at) < p.now),
               and_(col(Sandbox.state) == FROZEN, col(Sandbox.delete_after) < p.now))


def _overdue(session: Session, p: ReportParams) -> list[dict]:
    due = case((col(Sandbox.state) == ACTIVE, col(Sandbox.expires_at)), else_=col(Sandbox.delete_after))
    query = (
        select(col(Sandbox.id), col(Sandbox.owner), col(Sandbox.department), col(Sandbox.provider),
               col(Sandbox.cloud_id), col(Sandbox.state), col(Sandbox.expires_at), col(Sandbox.delete_after),
               col(Sandbox.last_error))
        .where(_is_overdue(p), *sandbox_scope(p))
        .order_by(col(Sandbox.state), due, col(Sandbox.id))
    )
    rows = []
    for r in session.execute(query):
        due_at = r.expires_at if r.state == ACTIVE else r.delete_after
        rows.append({
            "category": "past_expiry" if r.state == ACTIVE else "past_grace", "status": "open",
            "sandbox_id": r.id, "owner": r.owner, "department": r.department, "provider": r.provider,
            "cloud_id": r.cloud_id, "first_seen": iso(due_at), "last_seen": iso(p.now), "resolved_at": None,
            "detail": {"state": r.state, "due_at": iso(due_at),
                       "overdue_hours": round((p.now - due_at).total_seconds() / 3600, 1),
                       "last_error": r.last_error},
        })
    return rows


def _failed(session: Session, p: ReportParams) -> list[dict]:
    failed_at = (select(func.max(col(Event.at)))
                 .where(col(Event.sandbox_id) == col(Sandbox.id), col(Event.action) == "provision_failed")
                 .correlate(Sandbox).scalar_subquery())
    query = (
        select(col(Sandbox.id), col(Sandbox.owner), col(Sandbox.department), col(Sandbox.provider),
               col(Sandbox.cloud_id), col(Sandbox.template), col(Sandbox.attempts), col(Sandbox.last_error),
               col(Sandbox.created_at), failed_at.label("failed_at"))
        .where(col(Sandbox.state) == FAILED, *sandbox_scope(p)).order_by(col(Sandbox.created_at), col(Sandbox.id))
    )
    return [{
        "category": "failed", "status": "open", "sandbox_id": r.id, "owner": r.owner,
        "department": r.department, "provider": r.provider, "cloud_id": r.cloud_id,
        "first_seen": iso(r.created_at), "last_seen": iso(r.failed_at), "resolved_at": None,
        "detail": {"template": r.template, "attempts": r.attempts, "last_error": r.last_error},
    } for r in session.execute(query)]


def _totals(session: Session, p: ReportParams) -> dict:
    """Open findings per category (SQL counts), and the period's repair / failure events."""
    open_findings = dict(session.execute(
        select(col(Finding.kind), func.count())
        .where(col(Finding.resolved_at).is_(None), *owned_scope(p, col(Finding.sandbox_id)))
        .group_by(col(Finding.kind))).all())
    overdue: dict[str, int] = dict(session.execute(
        select(case((col(Sandbox.state) == ACTIVE, literal("past_expiry")), else_=literal("past_grace")), func.count())
        .where(_is_overdue(p), *sandbox_scope(p))
        .group_by(col(Sandbox.state))).all())
    failed = session.execute(select(func.count()).where(col(Sandbox.state) == FAILED, *sandbox_scope(p))).scalar()
    events = dict(session.execute(
        select(col(Event.action), func.count())
        .where(col(Event.action).in_(("tags_repaired", "provision_failed")), col(Event.at) >= p.start,
               col(Event.at) < p.end, *owned_scope(p, col(Event.sandbox_id)))
        .group_by(col(Event.action))).all())
    totals = {f"open_{kind}": count(open_findings.get(kind))
              for kind in ("tampering", "guardrail", "unreachable", "drift", "orphan", "unknown_spend")}
    totals.update({"past_expiry": count(overdue.get("past_expiry")), "past_grace": count(overdue.get("past_grace")),
                   "failed": count(failed), "tags_repaired_events": count(events.get("tags_repaired")),
                   "provision_failed_events": count(events.get("provision_failed"))})
    return totals
