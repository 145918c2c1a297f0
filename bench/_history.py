"""A program's history for the benchmarks: years of ended sandboxes with everything they
left behind in every table, inserted in bulk.

Not a benchmark itself (bench/sweep_cost.py uses it). Each ended sandbox has what the real
code leaves: its owner's member row (one in ten shared with a second member), the events
of its life (requested, ready, warned, frozen, deleted), the warning milestones, its
delivered notices, a few days of cost samples and, for a GCP one, the "unknown_spend"
finding the budgets sweep opened while it was live (nothing closes it once it has ended).
A few per cent are denied or failed (a failed one keeps the steps it got through).

Rows are written with SQLAlchemy core executemany, 5,000 at a time, straight into the
tables; no ORM, no cloud.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from _common import TEMPLATE_OF

CHUNK = 5000


def seed_history(engine: Any, settings: Any, count: int, now: datetime, rng: random.Random, *,
                 taken: set[str] | None = None, users: int = 2000, days: float = 700) -> list[str]:
    """`count` ended sandboxes (92% deleted, 4% denied, 4% failed) created over the last
    `days`, with their rows in member, event, milestone, notification, cost_sample and
    finding. Returns their ids; `taken` ids are avoided (and the new ones added to it)."""
    from sqlalchemy import insert

    from sandbox.models import CostSample, Event, Finding, Member, Milestone, Notification, Sandbox
    from sandbox.naming import sandbox_name
    from sandbox.service.plans import department_location
    from sandbox.templates import find_template

    taken = taken if taken is not None else set()
    templates = {p: find_template(settings.template_dirs(), name) for p, name in TEMPLATE_OF.items()}
    snapshots = {p: t.snapshot().to_json() for p, t in templates.items()}
    locations = {p: department_location(settings, p, "engineering") for p in templates}
    tables: dict[Any, list[dict[str, Any]]] = {t: [] for t in (Sandbox, Member, Event, Milestone, Notification,
                                                              CostSample, Finding)}
    ids = []
    for i in range(count):
        sandbox_id = f"{rng.getrandbits(32):08x}"
        while sandbox_id in taken:
            sandbox_id = f"{rng.getrandbits(32):08x}"
        taken.add(sandbox_id)
        ids.append(sandbox_id)
        provider = "aws" if i % 2 else "gcp"
        template = templates[provider]
        owner = f"user{rng.randrange(users):05d}@example.com"
        created = now - timedelta(days=rng.uniform(8, days))
        expires = created + timedelta(days=7)
        roll = rng.random()
        state = "deleted" if roll < 0.92 else "denied" if roll < 0.96 else "failed"
        cloud_id = (f"9{int(sandbox_id, 16):011d}" if provider == "aws" else f"hist-{sandbox_id}") \
            if state != "denied" else None
        ended = state == "deleted"
        progress: dict[str, Any] = {}
        if state == "failed":  # gave up half-way: a resource may exist, cloud_id was never set
            progress = {"account_id": cloud_id} if provider == "aws" else {"project_id": cloud_id}
            cloud_id = None
        tags = {**template.tags, "sandbox-id": sandbox_id, "sandbox-owner": owner,
                "sandbox-department": "engineering", "sandbox-template": template.name,
                "sandbox-expires": expires.strftime("%Y-%m-%dT%H:%MZ")}
        tables[Sandbox].append(dict(
            id=sandbox_id, name=sandbox_name(owner, sandbox_id), provider=provider, template=template.name,
            owner=owner, owner_subject="", department="engineering", state=state, cloud_id=cloud_id,
            location=locations[provider], created_at=created, expires_at=expires,
            frozen_at=expires if ended else None, delete_after=expires + timedelta(days=3) if ended else None,
            frozen_reason="expiry" if ended else None,
            deleted_at=expires + timedelta(days=3) if ended else None, extension_count=0,
            approval_required=state == "denied", approved_by=None, budget_usd=template.budget_usd,
            spend_usd=None, spend_at=None, desired_tags=tags, plan=snapshots[provider], progress=progress,
            last_error="gave up after 5 attempts" if state == "failed" else None,
            attempts=5 if state == "failed" else 0, next_attempt_at=None, lease_owner=None, lease_until=None,
            version=4 if ended else 1))
        members = [owner] + ([f"user{rng.randrange(users):05d}@example.com"] if rng.random() < 0.1 else [])
        for email in dict.fromkeys(members):
            tables[Member].append(dict(sandbox_id=sandbox_id, email=email,
                                       role="owner" if email == owner else "member", added_at=created))
        life = [("request", None, "requested", created)]
        if state == "denied":
            life.append(("deny", "requested", "denied", created + timedelta(hours=3)))
        elif state == "failed":
            life.append(("provision_failed", "provisioning", "failed", created + timedelta(hours=1)))
        else:
            life += [("provisioned", "provisioning", "active", created + timedelta(minutes=2)),
                     ("expiry_warning", "active", "active", expires - timedelta(days=1)),
                     ("freeze", "active", "frozen", expires),
                     ("grace_ended", "frozen", "deleting", expires + timedelta(days=3)),
                     ("deleted", "deleting", "deleted", expires + timedelta(days=3, minutes=5))]
        for action, from_state, to_state, at in life:
            tables[Event].append(dict(sandbox_id=sandbox_id, at=at, actor="daemon" if from_state else owner,
                                      action=action, from_state=from_state, to_state=to_state, detail={}))
        if not ended:
            continue
        for lead, delta in (("3d", timedelta(days=3)), ("1d", timedelta(days=1))):
            tables[Milestone].append(dict(sandbox_id=sandbox_id, key=f"warn:{lead}:{expires:%Y%m%d%H%M}",
                                          at=expires - delta))
        for kind, at in (("ready", created), ("expiry_warning", expires - timedelta(days=1)),
                         ("frozen", expires), ("deleted", expires + timedelta(days=3))):
            tables[Notification].append(dict(
                sandbox_id=sandbox_id, kind=kind, recipients=members, subject=f"Sandbox {kind}",
                body=f"Your sandbox {sandbox_id}: {kind}.", created_at=at, attempts=1, next_attempt_at=at,
                delivered_at=at + timedelta(seconds=30), failed_at=None, last_error=None))
        if provider == "aws":
            for day in sorted(rng.sample(range(7), 3)):
                tables[CostSample].append(dict(sandbox_id=sandbox_id, day=(created + timedelta(days=day)).date(),
                                               amount_usd=round(rng.uniform(0.5, 20), 4), source="aws",
                                               recorded_at=created + timedelta(days=day + 1)))
        else:
            tables[Finding].append(dict(kind="unknown_spend", provider="gcp", cloud_id=cloud_id,
                                        sandbox_id=sandbox_id, first_seen=created, last_seen=expires,
                                        resolved_at=None, detail={"reason": "gcp has no cost source"}))
    with engine.begin() as conn:
        for model, rows in tables.items():
            for start in range(0, len(rows), CHUNK):
                conn.execute(insert(model.__table__), rows[start:start + CHUNK])
    return ids


def analyze(engine: Any) -> None:
    """PostgreSQL: VACUUM ANALYZE every table (as autovacuum would have done by now).
    SQLite: nothing; the application never runs ANALYZE, so its planner has no statistics."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
