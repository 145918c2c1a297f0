"""Budget thresholds at exactly the threshold (issue 16): aws-individual has a 100 USD
budget, notifies at 50% and 80% and freezes at 100%. A spend of exactly 50.00 USD is
50% (notified), 49.99 is not; exactly 100.00 freezes, 99.99 does not. The spend comes
from Cost Explorer results queued in moto; the freeze is checked in moto too."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sandbox.models import Event, Milestone, Notification, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE
from tests.sweeps.conftest import rows, run
from tests.sweeps.test_budgets import JAN1, ce_day, load

SPENDS = ("49.99", "50.00", "79.99", "80.00", "99.99", "100.00")
# spend -> (thresholds marked, the one the owner hears of, the state after the sweep)
EXPECTED = {
    "49.99": ([], None, "active"),
    "50.00": ([50], 50, "active"),
    "79.99": ([50], 50, "active"),
    "80.00": ([50, 80], 80, "active"),
    "99.99": ([50, 80], 80, "active"),
    "100.00": ([50, 80, 100], 100, "frozen"),
}


def marked(app, sandbox_id) -> list[int]:
    keys = [m.key for m in rows(app, Milestone, Milestone.sandbox_id == sandbox_id)]
    return sorted(int(key.removeprefix("threshold:")) for key in keys)


def heard(app, sandbox_id) -> list[int]:
    notices = rows(app, Notification, Notification.sandbox_id == sandbox_id, Notification.kind == "budget_threshold")
    events = rows(app, Event, Event.sandbox_id == sandbox_id, Event.action == "budget_threshold")
    assert len(notices) == len(events)
    return [e.detail["percent"] for e in events]


def test_a_threshold_is_crossed_at_exactly_its_percent_and_not_a_cent_before(make_app, clock, aws):
    app = make_app(quotas={"max_live_per_user": len(SPENDS)})
    ids = [request_sandbox(app, ALICE, "aws-individual")["id"] for _ in SPENDS]
    run(app, "provision")
    by_spend = {spend: load(app, sandbox_id) for spend, sandbox_id in zip(SPENDS, ids)}
    assert {s.budget_usd for s in by_spend.values()} == {Decimal(100)}
    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [
        ce_day(JAN1, *[(sandbox.cloud_id, spend) for spend, sandbox in by_spend.items()])]}])

    result = run(app, "budgets")

    assert result.ok and (result.due, result.done) == (len(SPENDS), len(SPENDS))
    outcome = {}
    for spend, sandbox in by_spend.items():
        now = load(app, sandbox.id)
        assert now.spend_usd == Decimal(spend)
        highest = heard(app, sandbox.id)
        outcome[spend] = (marked(app, sandbox.id), highest[0] if highest else None, now.state)
    assert outcome == EXPECTED
    # Frozen in the cloud too: the owner's console login is gone only where 100% was reached.
    assert not aws.has_login(by_spend["100.00"].cloud_id, ALICE.email)
    assert aws.has_login(by_spend["99.99"].cloud_id, ALICE.email)
    (freeze,) = rows(app, Event, Event.action == "freeze")
    assert (freeze.sandbox_id, freeze.detail["reason"]) == (by_spend["100.00"].id, "budget 100%")

    # The same figures read again: nothing crosses twice, nothing more is frozen.
    clock.advance(timedelta(hours=6))
    again = run(app, "budgets")
    assert again.ok and again.due == 0
    assert {spend: marked(app, s.id) for spend, s in by_spend.items()} == {k: v[0] for k, v in EXPECTED.items()}
    assert [s.state for s in rows(app, Sandbox, Sandbox.id.in_(ids))].count("frozen") == 1
