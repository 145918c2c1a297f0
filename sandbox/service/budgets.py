"""Budgets that hold: a sandbox over its freeze threshold cannot be extended back to life;
only an admin raising the budget (audited) can unfreeze it."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import col, delete

from sandbox.config import Identity
from sandbox.errors import IllegalTransitionError, UsageError
from sandbox.lifecycle import ACTIVE, FROZEN, record_event, update_guarded
from sandbox.models import Milestone, Sandbox
from sandbox.service.access import find_sandbox, require_admin, sandbox_view
from sandbox.service.app import App
from sandbox.service.steps import leased


def freeze_threshold(sandbox: Sandbox) -> int | None:
    """The lowest percent of the budget the sandbox's spend freezes it at, if any."""
    percents = [t.percent for t in sandbox.snapshot.thresholds if t.action == "freeze"]
    return min(percents) if percents and sandbox.budget_usd and sandbox.budget_usd > 0 else None


def over_budget(sandbox: Sandbox) -> str | None:
    """Why the sandbox may not run on (spend at or past its freeze threshold), or None."""
    percent = freeze_threshold(sandbox)
    spend, budget = sandbox.spend_usd, sandbox.budget_usd
    if percent is None or spend is None or budget is None or spend * 100 < budget * percent:
        return None
    raise_to = max(math.ceil(spend * 2 / 10) * 10, 10)
    what = "frozen for budget" if sandbox.state == FROZEN else "over its budget"
    return (f"sandbox {sandbox.id} is {what}: spend {_usd(spend)} USD of {_usd(budget)} USD; "
            f"an admin can raise it with `sandbox admin budget {sandbox.id} --to {raise_to}`")


def _usd(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01')).normalize():f}"


def parse_amount(text: str) -> Decimal:
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise UsageError(f"--to {text!r} is not an amount in USD, like 300 or 250.50") from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e10"):
        raise UsageError(f"--to {text!r} must be a positive amount in USD below 10,000,000,000")
    return amount.quantize(Decimal("0.0001"))


def set_budget(app: App, identity: Identity, sandbox_ref: str, to: str) -> dict[str, Any]:
    """Set the sandbox's budget (admins only, audited); thresholds above the spend measured at
    the new figure fire again; a sandbox frozen for budget and now under it is unfrozen."""
    amount = parse_amount(to)
    now = app.now()
    with app.session() as session:
        require_admin(session, identity, "set budgets", now=now)
        sandbox = find_sandbox(session, sandbox_ref)
    if sandbox.state not in (ACTIVE, FROZEN):
        raise IllegalTransitionError(f"sandbox {sandbox.id} is {sandbox.state}; only active or frozen "
                                     "sandboxes have a budget to change")
    with leased(app, sandbox.id) as lease:
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox.id)
            spend = sandbox.spend_usd or Decimal(0)
            rearmed = sorted(t.percent for t in sandbox.snapshot.thresholds if spend * 100 < amount * t.percent)
            session.exec(delete(Milestone).where(
                col(Milestone.sandbox_id) == sandbox.id,
                col(Milestone.key).in_([f"threshold:{percent}" for percent in rearmed])))
            before = sandbox.budget_usd
            update_guarded(session, sandbox, budget_usd=amount)
            record_event(session, sandbox_id=sandbox.id, actor=identity.email, action="budget", at=now,
                         from_state=sandbox.state, to_state=sandbox.state,
                         detail={"from_usd": None if before is None else str(before), "to_usd": str(amount),
                                 "spend_usd": str(spend), "rearmed_percents": rearmed})
        if sandbox.state == FROZEN and sandbox.frozen_reason == "budget" and over_budget(sandbox) is None \
                and sandbox.expires_at > now:
            from sandbox.service.changes import unfreeze_sandbox

            return unfreeze_sandbox(app, sandbox.id, actor=identity.email, action="budget_unfreeze",
                                    lease=lease, detail={"budget_usd": str(amount)})
    return sandbox_view(sandbox)
