"""Budgets: read daily spend, keep it as cost samples, apply each template threshold once.

One provider.spend() call per provider per sweep covers every live sandbox: on AWS that
is one Cost Explorer GetCostAndUsage per result page for the whole organization (each
request is billed), never one per account.

The period re-read each sweep starts at the earliest live sandbox's creation day, but
no earlier than LOOKBACK ago: Cost Explorer revises recent days (its data lags up to
24 h), so those are read again; older days keep the samples stored when they were
recent. A sample is stored only for a day with spend: a day without one spent nothing,
and a stored day a re-read now says is 0 loses its sample. spend_usd is the sum of a
sandbox's stored samples.

A pass costs per sandbox whose spend changed, not per live sandbox: after the one
spend() call, the period's stored samples of all the provider's live sandboxes are read
in one query and compared with what was reported. Only these are claimed and worked on
one by one: those whose samples differ, those read for the first time (spend_usd NULL:
they become a known 0), those of unknown spend (their finding), and those whose stored
spend is past a threshold they are still owed (an active one past a freeze threshold,
one not yet notified: after a crash, or a budget lowered by an admin). The rest only get
spend_at (when the figure was last confirmed) in one bulk UPDATE.

A provider that cannot tell (GCP without a cost source: None) leaves spend_usd NULL and
is recorded as an "unknown_spend" finding; it is never taken for zero.

Thresholds: Milestone "threshold:{percent}" makes each one notify once per sandbox. When
one sweep finds several crossed at once (a first reading, a sudden jump) the owner gets
one message, for the highest. A freeze threshold is checked on every pass: an active
sandbox past it is frozen again, whatever happened since (`sandbox admin budget` raises
the budget and re-arms the thresholds above the spend).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Sequence

from sqlalchemy import Row, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from sandbox.lifecycle import ACTIVE, FROZEN, record_event, update_guarded
from sandbox.models import CostSample, Milestone, Sandbox
from sandbox.notices import queue_notice
from sandbox.provider import Threshold, cloud_named
from sandbox.service.app import App
from sandbox.service.changes import freeze_sandbox
from sandbox.service.steps import Lease
from sandbox.snapshot import TemplateSnapshot
from sandbox.sweeps.base import SweepResult, sweep
from sandbox.sweeps.common import (ACTOR, Stop, chunks, cloud_id_of, each_due, fail_provider, placement_of,
                                   providers_with, resolve_findings, upsert_finding)

log = logging.getLogger("sandbox.sweeps.budgets")

JOB = "budgets"
LIVE = (ACTIVE, FROZEN)
LOOKBACK = timedelta(days=90)
STEP = Decimal("0.0001")  # the scale of the MONEY columns

Daily = dict[date, Decimal]


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive


@sweep(JOB)
def read_budgets(app: App, result: SweepResult, now: datetime, stop: Stop | None) -> None:
    live = [col(Sandbox.state).in_(LIVE), col(Sandbox.cloud_id).is_not(None)]
    for provider_name in providers_with(app, *live):
        _read_provider(app, result, provider_name, now, live, stop)


def _read_provider(app: App, result: SweepResult, provider_name: str, now: datetime, live: list,
                   stop: Stop | None) -> None:
    mine = [col(Sandbox.provider) == provider_name, *live]
    with app.session() as session:
        rows = session.execute(select(col(Sandbox.id), col(Sandbox.cloud_id), col(Sandbox.location),
                                      col(Sandbox.created_at), col(Sandbox.state), col(Sandbox.budget_usd),
                                      col(Sandbox.spend_usd)).where(*mine)).all()
    if not rows:
        return
    today = now.date()
    period = Period(max(min(row.created_at.date() for row in rows), today - LOOKBACK), today + timedelta(days=1))
    placements = list({row.cloud_id: placement_of(row) for row in rows}.values())
    try:
        report = app.provider(provider_name).spend(placements, period.start, period.end)
    except Exception as exc:  # noqa: BLE001 - one provider down does not stop the other
        fail_provider(result, provider_name, "spend", exc)
        return
    result.cloud_requests += report.requests
    by_cloud_id = report.by_cloud_id
    known = [r.cloud_id for r in rows if by_cloud_id.get(r.cloud_id, {}) is not None]
    resolve_findings(app, kind="unknown_spend", provider=provider_name, now=now, cloud_ids=known)

    due, confirmed = _sort_out(app, rows, by_cloud_id, _stored(app, mine, period), period)
    log.info("spend_read provider=%s sandboxes=%d start=%s end=%s requests=%d due=%d",
             provider_name, len(rows), period.start, period.end, report.requests, len(due))
    _confirm(app, confirmed, now)

    # Claim each due sandbox for its own writes (an owner extending it holds the lease
    # meanwhile; a sandbox busy elsewhere is simply read again next sweep).
    for part in chunks(sorted(due)):
        if stop and stop():
            return
        each_due(app, result, [*mine, col(Sandbox.id).in_(part)],
                 lambda lease: _apply(app, provider_name, lease, due, period, now), stop=stop)


def _stored(app: App, mine: list[ColumnElement], period: Period) -> dict[str, Daily]:
    """The period's samples of every live sandbox of the provider, in one query."""
    stored: dict[str, Daily] = {}
    with app.session() as session:
        for sandbox_id, day, amount in session.execute(
                select(col(CostSample.sandbox_id), col(CostSample.day), col(CostSample.amount_usd))
                .join(Sandbox, col(Sandbox.id) == col(CostSample.sandbox_id))
                .where(*mine, col(CostSample.day) >= period.start, col(CostSample.day) < period.end)):
            stored.setdefault(sandbox_id, {})[day] = amount
    return stored


def days_with_spend(daily: Daily, since: date, period: Period) -> Daily:
    """The days of `daily` in the period from `since` on that spent something, at the scale
    the samples keep (so a reading compares equal to what storing it would give)."""
    kept = {day: Decimal(amount).quantize(STEP, ROUND_HALF_UP) for day, amount in daily.items()
            if day >= since and period.start <= day < period.end}
    return {day: amount for day, amount in kept.items() if amount != 0}


def _sort_out(app: App, rows: Sequence[Row], by_cloud_id: dict[str, Daily | None],
              stored: dict[str, Daily], period: Period) -> tuple[dict[str, Daily | None], list[str]]:
    """(the sandboxes to claim, each with its days with spend or None if unknown;
    the ids whose stored spend the reading confirmed and who are owed nothing)."""
    due: dict[str, Daily | None] = {}
    unchanged = []
    for row in rows:
        daily = by_cloud_id.get(row.cloud_id, {})
        if daily is None:
            due[row.id] = None
            continue
        # One period serves every sandbox, so it starts before the younger ones existed.
        reported = days_with_spend(daily, row.created_at.date(), period)
        if row.spend_usd is None or reported != stored.get(row.id, {}):
            due[row.id] = reported
        else:
            unchanged.append(row)
    owed = _owed_thresholds(app, unchanged)
    confirmed = []
    for row in unchanged:
        if row.id in owed:
            due[row.id] = stored.get(row.id, {})
        else:
            confirmed.append(row.id)
    return due, confirmed


def _owed_thresholds(app: App, rows: list[Row]) -> set[str]:
    """Of sandboxes whose spend did not change, those `_apply_thresholds` would still act
    on: active past a freeze threshold, or past a threshold not marked yet. Only those with
    spend and a budget are looked at (their snapshots and marks read in IN-list chunks)."""
    spending = {row.id: row for row in rows if row.budget_usd and row.budget_usd > 0 and row.spend_usd
                and row.spend_usd > 0}
    if not spending:
        return set()
    owed: set[str] = set()
    marks: dict[str, list[Threshold]] = {}
    with app.session() as session:
        for part in chunks(sorted(spending)):
            for sandbox_id, plan in session.execute(select(col(Sandbox.id), col(Sandbox.plan))
                                                    .where(col(Sandbox.id).in_(part))):
                row = spending[sandbox_id]
                past = _past(TemplateSnapshot.from_json(plan).thresholds, row.spend_usd, row.budget_usd)
                if row.state == ACTIVE and any(t.action == "freeze" for t in past):
                    owed.add(sandbox_id)
                elif past:
                    marks[sandbox_id] = past
        for part in chunks(sorted(marks)):
            done: dict[str, set[str]] = {}
            for sandbox_id, key in session.execute(
                    select(col(Milestone.sandbox_id), col(Milestone.key))
                    .where(col(Milestone.sandbox_id).in_(part), col(Milestone.key).startswith("threshold:"))):
                done.setdefault(sandbox_id, set()).add(key)
            owed.update(sandbox_id for sandbox_id in part
                        if any(f"threshold:{t.percent}" not in done.get(sandbox_id, set())
                               for t in marks[sandbox_id]))
    return owed


def _past(thresholds: Sequence[Threshold], spend: Decimal, budget: Decimal) -> list[Threshold]:
    return sorted((t for t in thresholds if spend * 100 >= budget * t.percent), key=lambda t: t.percent)


def _confirm(app: App, sandbox_ids: list[str], now: datetime) -> None:
    """spend_at = now for the sandboxes whose stored spend the reading confirmed, in bulk
    and without their leases: spend_at says when the figure was last confirmed and nothing
    is decided on it; only this sweep writes it (one replica at a time), it moves neither
    state, spend nor version, so a lease holder loses nothing and no guarded update of
    theirs is refused. One transaction per chunk keeps the row locks short."""
    for part in chunks(sandbox_ids):
        with app.session() as session:
            session.execute(update(Sandbox).where(col(Sandbox.id).in_(part), col(Sandbox.state).in_(LIVE))
                            .values(spend_at=now).execution_options(synchronize_session=False))


def _apply(app: App, provider_name: str, lease: Lease, due: dict[str, Daily | None], period: Period,
           now: datetime) -> None:
    sandbox_id = lease.sandbox_id
    daily = due[sandbox_id]
    if daily is None:
        with app.session() as session:
            cloud_id = cloud_id_of(session.get_one(Sandbox, sandbox_id))
        upsert_finding(app, kind="unknown_spend", provider=provider_name, cloud_id=cloud_id,
                       sandbox_id=sandbox_id, now=now,
                       detail={"reason": f"{provider_name} has no cost source; spend is unknown"})
        return
    spend = _store_samples(app, sandbox_id, provider_name, daily, period, now)
    _apply_thresholds(app, lease, spend, now)


def _store_samples(app: App, sandbox_id: str, provider_name: str, daily: Daily, period: Period,
                   now: datetime) -> Decimal:
    """Make the period's samples the days with spend in `daily` (insert, update, delete
    those now 0), then spend_usd = the sum of all the sandbox's samples."""
    source = cloud_named(provider_name).spend_source or provider_name
    with app.session() as session:
        existing = {sample.day: sample for sample in session.execute(
            select(CostSample).where(col(CostSample.sandbox_id) == sandbox_id, col(CostSample.day) >= period.start,
                                     col(CostSample.day) < period.end)).scalars()}
        for day, sample in existing.items():
            if day not in daily:
                session.delete(sample)  # a revised day: nothing spent after all
        for day, amount in sorted(daily.items()):
            sample = existing.get(day)
            if sample is None:
                session.add(CostSample(sandbox_id=sandbox_id, day=day, amount_usd=amount, source=source,
                                       recorded_at=now))
            elif sample.amount_usd != amount or sample.source != source:
                sample.amount_usd, sample.source, sample.recorded_at = amount, source, now
        session.flush()
        total = session.execute(select(func.coalesce(func.sum(col(CostSample.amount_usd)), 0))
                                .where(col(CostSample.sandbox_id) == sandbox_id)).scalar()
        total = Decimal(str(total)).quantize(STEP)
        sandbox = session.get_one(Sandbox, sandbox_id)
        update_guarded(session, sandbox, spend_usd=total, spend_at=now)
    return total


def _apply_thresholds(app: App, lease: Lease, spend: Decimal, now: datetime) -> None:
    """Each threshold notifies once; a freeze threshold freezes every time the sandbox is
    found active past it (after an extend, a restore by hand), until an admin raises the budget."""
    sandbox_id = lease.sandbox_id
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        budget = sandbox.budget_usd
        if not budget or budget <= 0:
            return
        done = set(session.execute(select(col(Milestone.key)).where(
            col(Milestone.sandbox_id) == sandbox_id, col(Milestone.key).startswith("threshold:"))).scalars())
        past = _past(sandbox.snapshot.thresholds, spend, budget)
        crossed = [t for t in past if f"threshold:{t.percent}" not in done]
        freezing = [t.percent for t in past if t.action == "freeze"]
        state = sandbox.state
    if freezing and state == ACTIVE:
        # Freeze before marking: if the cloud refuses, nothing is marked and the next sweep
        # tries again; a crash after it finds the sandbox frozen and only marks.
        freeze_sandbox(app, sandbox_id, actor=ACTOR, reason=f"budget {max(freezing)}%", cause="budget",
                       lease=lease)
    if not crossed:
        return
    highest = crossed[-1]
    action = "freeze" if any(t.action == "freeze" for t in crossed) else highest.action
    try:
        with app.session() as session:
            sandbox = session.get_one(Sandbox, sandbox_id)
            for threshold in crossed:
                session.add(Milestone(sandbox_id=sandbox_id, key=f"threshold:{threshold.percent}", at=now))
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
             sandbox_id, highest.percent, spend, budget, action == "freeze")
