"""Budgets: daily spend from Cost Explorer (queued in moto), thresholds once, GCP unknown;
a pass works on the sandboxes whose spend changed, and confirms the rest in bulk."""

from datetime import date, timedelta
from decimal import Decimal

from sandbox.models import CostSample, Event, Finding, Milestone, Sandbox
from sandbox.service import request_sandbox, set_budget
from tests.conftest import ADMIN, ALICE, BOB
from tests.sweeps.conftest import notice_kinds, rows, run

GET_COST = "AWSInsightsIndexService.GetCostAndUsage"
JAN1, JAN2, JAN3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)  # the FrozenClock starts on 2026-01-01


def ce_day(when, *groups):
    return {"TimePeriod": {"Start": when.isoformat(), "End": (when + timedelta(days=1)).isoformat()},
            "Total": {}, "Estimated": True,
            "Groups": [{"Keys": [account], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                       for account, amount in groups]}


def load(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def test_one_sandbox_crosses_half_another_the_whole_budget(make_app, clock, moto_recorder):
    aws = moto_recorder
    app = make_app(quotas={"max_live_per_user": 5})
    ids = [request_sandbox(app, who, "aws-individual")["id"] for who in (ALICE, BOB, ALICE)]  # 100 USD each
    run(app, "provision")
    half, whole, idle = (load(app, sid) for sid in ids)
    clock.advance(timedelta(days=2))
    # Two pages for three accounts (and one account that is no sandbox of ours).
    aws.queue_cost_and_usage([
        {"ResultsByTime": [ce_day(JAN1, (half.cloud_id, "30.00"), (whole.cloud_id, "70.00")),
                           ce_day(JAN2, (half.cloud_id, "30.00"))],
         "NextPageToken": "page-2"},
        {"ResultsByTime": [ce_day(JAN2, (whole.cloud_id, "50.00"), ("999999999999", "5.00"))]},
    ])
    before = aws.recorded_targets()[GET_COST]

    result = run(app, "budgets")

    assert aws.recorded_targets()[GET_COST] - before == 2  # pages, not accounts
    assert result.cloud_requests == 2 and (result.due, result.done, result.failed) == (3, 3, 0)
    half, whole, idle = (load(app, sid) for sid in ids)
    assert (half.spend_usd, whole.spend_usd, idle.spend_usd) == (Decimal(60), Decimal(120), Decimal(0))
    assert half.spend_at == clock.now()
    samples = {(s.sandbox_id, s.day): s.amount_usd for s in rows(app, CostSample)}
    assert samples[(half.id, JAN1)] == Decimal(30) and samples[(whole.id, JAN2)] == Decimal(50)
    assert {s.source for s in rows(app, CostSample)} == {"aws-ce"}
    assert len(samples) == 4  # the days with spend: none for the idle one, nor for today (Jan 3)

    assert (half.state, whole.state, idle.state) == ("active", "frozen", "active")
    assert not aws.has_login(whole.cloud_id, BOB.email)  # the freeze revoked access in moto
    assert aws.has_login(half.cloud_id, ALICE.email)
    assert notice_kinds(app, half.id) == {"ready": 1, "budget_threshold": 1}
    assert notice_kinds(app, whole.id) == {"ready": 1, "budget_threshold": 1, "frozen": 1}
    assert notice_kinds(app, idle.id) == {"ready": 1}
    (freeze,) = rows(app, Event, Event.sandbox_id == whole.id, Event.action == "freeze")
    assert freeze.detail["reason"] == "budget 100%"
    (crossed,) = rows(app, Event, Event.sandbox_id == whole.id, Event.action == "budget_threshold")
    assert crossed.detail["percent"] == 100 and crossed.detail["skipped"] == [50, 80]

    def milestones():
        return sorted((m.sandbox_id == whole.id, m.key) for m in rows(app, Milestone))

    assert milestones() == [(False, "threshold:50"), (True, "threshold:100"), (True, "threshold:50"),
                            (True, "threshold:80")]

    # The next sweep reads the same figures again: nothing is applied twice, nor claimed.
    clock.advance(timedelta(hours=6))
    again = run(app, "budgets")
    assert again.ok and aws.recorded_targets()[GET_COST] - before == 4
    assert (again.due, again.done) == (0, 0)
    assert notice_kinds(app) == {"ready": 3, "budget_threshold": 2, "frozen": 1}
    assert len(rows(app, CostSample)) == 4 and load(app, half.id).spend_usd == Decimal(60)
    assert len(milestones()) == 4
    assert {load(app, sid).spend_at for sid in ids} == {clock.now()}  # confirmed, in bulk


def test_a_pass_claims_only_the_sandboxes_whose_spend_changed(make_app, clock, aws):
    app = make_app(quotas={"max_live_per_user": 5})
    ids = [request_sandbox(app, ALICE, "aws-individual")["id"] for _ in range(3)]
    run(app, "provision")
    steady, growing, idle = (load(app, sid) for sid in ids)
    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (steady.cloud_id, "10.00"),
                                                         (growing.cloud_id, "5.00"))]}])
    first = run(app, "budgets")
    assert (first.due, first.done) == (3, 3)  # each spend read for the first time: idle becomes a known 0
    versions = {sid: load(app, sid).version for sid in ids}

    # A day later (a new period end, so moto answers the next reading): only one changed.
    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (steady.cloud_id, "10.00"), (growing.cloud_id, "5.00")),
                                                  ce_day(JAN2, (growing.cloud_id, "7.50"))]}])
    second = run(app, "budgets")

    assert second.ok and (second.due, second.done) == (1, 1)
    steady, growing, idle = (load(app, sid) for sid in ids)
    assert (steady.spend_usd, growing.spend_usd, idle.spend_usd) == (Decimal(10), Decimal("12.5"), Decimal(0))
    assert steady.spend_at == growing.spend_at == idle.spend_at == clock.now()
    assert (steady.version, idle.version) == (versions[steady.id], versions[idle.id])  # not rewritten
    assert growing.version > versions[growing.id]
    assert {s.lease_owner for s in (steady, growing, idle)} == {None}
    assert sorted((s.sandbox_id == growing.id, s.day, s.amount_usd) for s in rows(app, CostSample)) == [
        (False, JAN1, Decimal(10)), (True, JAN1, Decimal(5)), (True, JAN2, Decimal("7.5"))]


def test_a_day_revised_to_zero_loses_its_sample_and_its_spend(make_app, clock, aws):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    account = load(app, sandbox_id).cloud_id
    clock.advance(timedelta(days=2))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (account, "30.00")), ce_day(JAN2, (account, "15.00"))]}])
    run(app, "budgets")
    assert load(app, sandbox_id).spend_usd == Decimal(45)

    # Cost Explorer revises Jan 2 to nothing (listed as 0) and Jan 3 has spend.
    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (account, "30.00")), ce_day(JAN2, (account, "0")),
                                                  ce_day(JAN3, (account, "5.00"))]}])
    result = run(app, "budgets")

    assert result.ok and result.due == 1
    assert {s.day: s.amount_usd for s in rows(app, CostSample)} == {JAN1: Decimal(30), JAN3: Decimal(5)}
    assert load(app, sandbox_id).spend_usd == Decimal(35)


def test_a_budget_lowered_under_the_spend_notifies_at_the_next_pass(make_app, clock, aws):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (load(app, sandbox_id).cloud_id, "40.00"))]}])
    run(app, "budgets")
    assert notice_kinds(app, sandbox_id) == {"ready": 1}  # 40 of 100 USD: under 50%
    set_budget(app, ADMIN, sandbox_id, "60")  # 40 of 60 USD: past 50%, the spend unchanged

    clock.advance(timedelta(hours=6))  # the same period: moto answers the same figures
    again = run(app, "budgets")

    assert again.ok and again.due == 1
    assert notice_kinds(app, sandbox_id) == {"ready": 1, "budget_threshold": 1}
    assert load(app, sandbox_id).state == "active"
    assert run(app, "budgets").due == 0  # notified once: owed nothing more


def test_gcp_spend_is_unknown_not_zero(bootstrapped, clock, gcp):
    app = bootstrapped
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    run(app, "provision")

    result = run(app, "budgets")
    run(app, "budgets")

    assert result.ok and result.cloud_requests == 0
    sandbox = load(app, sandbox_id)
    assert sandbox.spend_usd is None and sandbox.spend_at is None
    assert rows(app, CostSample) == [] and rows(app, Milestone) == []
    (finding,) = rows(app, Finding)
    assert (finding.kind, finding.provider, finding.cloud_id, finding.sandbox_id) == (
        "unknown_spend", "gcp", sandbox.cloud_id, sandbox_id)
    assert finding.resolved_at is None
    assert notice_kinds(app) == {"ready": 1}


def test_days_with_spend_are_what_samples_would_keep():
    from sandbox.sweeps.budgets import Period, days_with_spend

    period = Period(JAN1, JAN3 + timedelta(days=1))
    daily = {date(2025, 12, 31): Decimal(9), JAN1: Decimal("0.00004"), JAN2: Decimal("1.23456"), JAN3: Decimal(0),
             date(2026, 1, 4): Decimal(7)}

    assert days_with_spend(daily, JAN1, period) == {JAN2: Decimal("1.2346")}  # 4 decimals, as MONEY stores
    assert days_with_spend(daily, JAN3, period) == {}  # nothing before the sandbox existed
