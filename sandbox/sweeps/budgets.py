"""Budgets: read daily spend, keep it as cost samples, apply each template threshold once.

One provider.spend() call per provider per sweep covers every live sandbox: on AWS that
is one Cost Explorer GetCostAndUsage per result page for the whole organization (each
request is billed), never one per account.

The period re-read each sweep starts at the earliest live sandbox's creation day, but
no earlier than LOOKBACK ago: Cost Explorer revises recent days (its data lags up to
24 h), so those are read again and overwritten; older days keep the samples stored when
they were recent. spend_usd is the sum of a sandbox's stored samples.

A provider that cannot tell (GCP without a cost source: None) leaves spend_usd NULL and
is recorded as an "unknown_spend" finding; it is never taken for zero.

Thresholds: Milestone "threshold:{percent}" makes each one happen once per sandbox. When
one sweep finds several crossed at once (a first reading, a sudden jump) the owner gets
one message, for the highest, and a freeze if any of them freezes.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from sandbox.lifecycle import ACTIVE, FROZEN, record_event, update_guarded
from sandbox.models import CostSample, Milestone, Sandbox
from sandbox.notices import queue_notice
from sandbox.provider import cloud_named
from sandbox.service.app import App
from sandbox.service.changes import freeze_sandbox
from sandbox.service.steps import Lease
from sandbox.sweeps.base import SweepResult, sweep
from sandbox.sweeps.common import (ACTOR, Stop, cloud_id_of, each_due, fail_provider, placement_of,
                                   providers_with, resolve_findings, upsert_finding)

log = logging.getLogger("sandbox.sweeps.budgets")

JOB = "budgets"
LIVE = (ACTIVE, FROZEN)
LOOKBACK = timedelta(days=90)


@sweep(JOB)
def read_budgets(app: App, result: SweepResult, now: datetime, stop: Stop | None) -> None:
    live = [col(Sandbox.state).in_(LIVE), col(Sandbox.cloud_id).is_not(None)]
    for provider_name in providers_with(app, *live):
        _read_provider(app, result, provider_name, now, live, stop)


def _read_provider(app: App, result: SweepResult, provider_name: str, now: datetime, live: list,
                   stop: Stop | None) -> None:
    with app.session() as session:
        rows = session.execute(select(col(Sandbox.id), col(Sandbox.cloud_id), col(Sandbox.location),
                                      col(Sandbox.created_at))
                               .where(col(Sandbox.provider) == provider_name, *live)).all()
    if not rows:
        return
    today = now.date()
    start = max(min(row.created_at.date() for row in rows), today - LOOKBACK)
    end = today + timedelta(days=1)
    placements = list({row.cloud_id: placement_of(row) for row in rows}.values())
    try:
        report = app.provider(provider_name).spend(placements, start, end)
    except Exception as exc:  # noqa: BLE001 - one provider down does not stop the other
        fail_provider(result, provider_name, "spend", exc)
        return
    result.cloud_requests += report.requests
    log.info("spend_read provider=%s sandboxes=%d start=%s end=%s requests=%d",
             provider_name, len(rows), start, end, report.requests)
    by_cloud_id = report.by_cloud_id
    known = [r.cloud_id for r in rows if by_cloud_id.get(r.cloud_id, {}) is not None]
    resolve_findings(app, kind="unknown_spend", provider=provider_name, now=now, cloud_ids=known)

    # Claim each sandbox for its own writes (an owner extending it holds the lease meanwhile;
    # a sandbox busy elsewhere is simply read again next sweep).
    read = frozenset(row.id for row in rows)
    each_due(app, result, [col(Sandbox.provider) == provider_name, *live],
             lambda lease: _apply(app, provider_name, lease, read, by_cloud_id, now), stop=stop)


def _apply(app: App, provider_name: str, lease: Lease, read: frozenset[str],
           by_cloud_id: dict[str, dict[date, Decimal] | None], now: datetime) -> None:
    sandbox_id = lease.sandbox_id
    if sandbox_id not in read:
        return  # it became live after the spend was read: the next sweep reads it
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        cloud_id = cloud_id_of(sandbox)
        daily = by_cloud_id.get(cloud_id, {})
    if daily is None:
        upsert_finding(app, kind="unknown_spend", provider=provider_name, cloud_id=cloud_id,
                       sandbox_id=sandbox_id, now=now,
                       detail={"reason": f"{provider_name} has no cost source; spend is unknown"})
        return
    # One period serves every sandbox, so it starts before the younger ones existed.
    born = sandbox.created_at.date()
    daily = {day: amount for day, amount in daily.items() if day >= born}
    spend = _store_samples(app, sandbox_id, provider_name, daily, now)
    _apply_thresholds(app, lease, spend, now)


def _store_samples(app: App, sandbox_id: str, provider_name: str, daily: dict[date, Decimal],
                   now: datetime) -> Decimal:
    """Upsert one CostSample per day, then spend_usd = the sum of all the sandbox's samples."""
    source = cloud_named(provider_name).spend_source or provider_name
    with app.session() as session:
        existing = {sample.day: sample for sample in session.execute(
            select(CostSample).where(col(CostSample.sandbox_id) == sandbox_id,
                                     col(CostSample.day).in_(sorted(daily)))).scalars()} if daily else {}
        for day, amount in sorted(daily.items()):
            sample = existing.get(day) or CostSample(sandbox_id=sandbox_id, day=day, amount_usd=amount,
                                                     source=source, recorded_at=now)
            sample.amount_usd, sample.source, sample.recorded_at = amount, source, now
            session.add(sample)
        session.flush()
        total = session.execute(select(func.coalesce(func.sum(col(CostSample.amount_usd)), 0))
                                .where(col(CostSample.sandbox_id) == sandbox_id)).scalar()
        total = Decimal(str(total)).quantize(Decimal("0.0001"))
        sandbox = session.get_one(Sandbox, sandbox_id)
        update_guarded(session, sandbox, spend_usd=total, spend_at=now)
    return total


def _apply_thresholds(app: App, lease: Lease, spend: Decimal, now: datetime) -> None:
    sandbox_id = lease.sandbox_id
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        budget = sandbox.budget_usd
        if not budget or budget <= 0:
            return
        done = set(session.execute(select(col(Milestone.key)).where(
            col(Milestone.sandbox_id) == sandbox_id, col(Milestone.key).startswith("threshold:"))).scalars())
        thresholds = sorted(sandbox.snapshot.thresholds, key=lambda t: t.percent)
        crossed = [t for t in thresholds
                   if spend * 100 >= budget * t.percent and f"threshold:{t.percent}" not in done]
        state = sandbox.state
    if not crossed:
        return
    highest = crossed[-1]
    freeze = any(t.action == "freeze" for t in crossed)
    percent_label = max(t.percent for t in crossed if t.action == "freeze") if freeze else highest.percent
    if freeze and state == ACTIVE:
        # Freeze before marking: if the cloud refuses, nothing is marked and the next sweep
        # tries again; a crash after it finds the sandbox frozen and only marks.
        freeze_sandbox(app, sandbox_id, actor=ACTOR, reason=f"budget {percent_label}%", lease=lease)
    try:
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            for threshold in crossed:
                session.add(Milestone(sandbox_id=sandbox_id, key=f"threshold:{threshold.percent}", at=now))
            action = "freeze" if freeze else highest.action
            facts = dict(percent=highest.percent, spend=spend, budget=budget, action=action)
            queue_notice(session, sandbox, "budget_threshold", now, **facts)
            record_event(session, sandbox_id=sandbox_id, actor=ACTOR, action="budget_threshold", at=now,
                         from_state=sandbox.state, to_state=sandbox.state,
                         detail={"percent": highest.percent, "action": action, "spend_usd": str(spend),
                                 "budget_usd": str(budget),
                                 "skipped": [t.percent for t in crossed[:-1]]})
    except IntegrityError:  # another writer marked them first
        log.info("threshold_already_applied sandbox=%s", sandbox_id)
    log.info("budget_threshold sandbox=%s percent=%s spend=%s budget=%s freeze=%s",
             sandbox_id, highest.percent, spend, budget, freeze)
