"""expiring: what the expiry sweep will do in the next N days (--days, default 7).

  warn    an active sandbox reaches a [daemon] warn_before lead time (expires_at - lead)
  freeze  an active sandbox reaches expires_at (overdue ones, which the next sweep
          freezes, are listed too, with overdue = true)
  delete  a frozen sandbox's grace period ends (delete_after)
Each row names the owner and the current spend (spend_usd as the budgets sweep last
read it; null when unknown).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from sandbox.lifecycle import ACTIVE, FROZEN
from sandbox.models import Sandbox
from sandbox.reports.base import Report, Section, iso, money
from sandbox.reports.query import ReportParams, sandbox_scope

ACTIONS = ("warn", "freeze", "delete")  # the order of rows due at the same instant
COLUMNS = ("due_at", "action", "lead", "overdue", "sandbox_id", "name", "owner", "department", "template",
           "provider", "state", "expires_at", "delete_after", "spend_usd", "budget_usd")
_FIELDS = (col(Sandbox.id), col(Sandbox.name), col(Sandbox.owner), col(Sandbox.department), col(Sandbox.template),
           col(Sandbox.provider), col(Sandbox.state), col(Sandbox.expires_at), col(Sandbox.delete_after),
           col(Sandbox.spend_usd), col(Sandbox.budget_usd))


def build_expiring(session: Session, p: ReportParams) -> Report:
    warns = []
    for lead, delta in p.warn_before:
        # due = expires_at - lead in [now, horizon): filter on expires_at so the index serves it
        warns += _rows(session, p, "warn", col(Sandbox.state) == ACTIVE, col(Sandbox.expires_at) >= p.now + delta,
                       col(Sandbox.expires_at) < p.horizon + delta, due=lambda s, d=delta: s.expires_at - d,
                       lead=lead)
    freezes = _rows(session, p, "freeze", col(Sandbox.state) == ACTIVE, col(Sandbox.expires_at) < p.horizon,
                    due=lambda s: s.expires_at)
    deletes = _rows(session, p, "delete", col(Sandbox.state) == FROZEN, col(Sandbox.delete_after) < p.horizon,
                    due=lambda s: s.delete_after)
    rows = sorted(warns + freezes + deletes, key=lambda r: (r["due_at"], ACTIONS.index(r["action"]), r["sandbox_id"]))
    return Report(
        kind="expiring", title=f"Expiring in the next {p.days} days", generated_at=p.now,
        parameters={"days": p.days, "from": iso(p.now), "to": iso(p.horizon)},
        totals={"warn": len(warns), "freeze": len(freezes), "delete": len(deletes)},
        sections=[Section("actions", "Due warnings, freezes and deletions", COLUMNS, rows)],
    )


def _rows(session: Session, p: ReportParams, action: str, *where, due, lead: str | None = None) -> list[dict]:
    query = select(*_FIELDS).where(*where, *sandbox_scope(p)).order_by(col(Sandbox.id))
    rows = []
    for s in session.execute(query):
        due_at = due(s)
        rows.append({
            "due_at": iso(due_at), "action": action, "lead": lead, "overdue": due_at < p.now,
            "sandbox_id": s.id, "name": s.name, "owner": s.owner, "department": s.department,
            "template": s.template, "provider": s.provider, "state": s.state,
            "expires_at": iso(s.expires_at), "delete_after": iso(s.delete_after),
            "spend_usd": money(s.spend_usd), "budget_usd": money(s.budget_usd),
        })
    return rows
