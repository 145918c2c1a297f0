"""Two reads the pages show beside a service call's answer, of sandboxes that call has
already shown the caller (so no access decision is made here): the members of a page of
sandboxes (one query, not one `show` per row), and one sandbox's daily spend."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from sandbox.models import CostSample, Member


def members_of(app, sandbox_ids: list[str]) -> dict[str, list[str]]:
    if not sandbox_ids:
        return {}
    rows = app.read(select(col(Member.sandbox_id), col(Member.email)).where(col(Member.sandbox_id).in_(sandbox_ids))
                    .order_by(col(Member.role).desc(), col(Member.email)))
    found: dict[str, list[str]] = {}
    for sandbox_id, email in rows:
        found.setdefault(sandbox_id, []).append(email)
    return found


def daily_spend(app, sandbox_id: str, days: int = 60) -> list[dict]:
    rows = app.read(select(col(CostSample.day), func.sum(col(CostSample.amount_usd)))
                    .where(col(CostSample.sandbox_id) == sandbox_id)
                    .group_by(col(CostSample.day)).order_by(col(CostSample.day).desc()).limit(days))
    return [{"day": str(day), "spend_usd": round(float(amount or 0), 2)} for day, amount in reversed(rows)]
