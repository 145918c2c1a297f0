"""Budgets: daily spend from Cost Explorer (queued in moto), thresholds once, GCP unknown."""

from datetime import date, timedelta
from decimal import Decimal

from sandbox.models import CostSample, Event, Finding, Milestone, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE, BOB
from tests.sweeps.conftest import notice_kinds, rows, run

GET_COST = "AWSInsightsIndexService.GetCostAndUsage"
JAN1, JAN2 = date(2026, 1, 1), date(2026, 1, 2)  # the FrozenClock starts on 2026-01-01


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
    assert len(samples) == 9  # three sandboxes x Jan 1..3 (the read includes today)

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

    # The next sweep reads the same figures again: nothing is applied twice.
    clock.advance(timedelta(hours=6))
    again = run(app, "budgets")
    assert again.ok and aws.recorded_targets()[GET_COST] - before == 4
    assert notice_kinds(app) == {"ready": 3, "budget_threshold": 2, "frozen": 1}
    assert len(rows(app, CostSample)) == 9 and load(app, half.id).spend_usd == Decimal(60)
    assert len(milestones()) == 4


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
