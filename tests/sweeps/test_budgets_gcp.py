"""Budgets on GCP: daily spend from the Cloud Billing export (seeded into the emulator's
BigQuery), one query per sweep for every project, thresholds once, the freeze in the emulator."""

from datetime import date, timedelta
from decimal import Decimal

from sandbox.models import CostSample, Event, Finding, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE, BOB
from tests.sweeps.conftest import notice_kinds, request, rows, run

TABLE = "billing-admin.billing.gcp_billing_export_v1_000000_000000_000001"
QUERIES = "POST /bigquery/v2/projects/{project}/queries"
JAN1, JAN2, JAN3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)  # the FrozenClock starts on Jan 1


def seed(gcp, *lines) -> None:
    """(project id, ISO time, cost, credit) lines into the emulator's billing export."""
    request("POST", gcp.url + "/emulator/billing-export", {"table": TABLE, "rows": [
        {"project_id": project, "usage_start_time": when, "cost": cost, "currency": "USD",
         "credits": [{"name": "Free tier", "amount": credit}] if credit else []}
        for project, when, cost, credit in lines]})


def queries(gcp) -> int:
    return request("GET", gcp.url + "/emulator/stats")["requests"].get(QUERIES, 0)


def load(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def test_export_spend_notifies_then_freezes_with_one_query_a_sweep(make_app, clock, gcp):
    app = make_app(gcp={"billing_export_table": TABLE}, quotas={"max_live_per_user": 5})
    ids = [request_sandbox(app, who, "gcp-individual")["id"] for who in (ALICE, BOB, ALICE)]  # 100 USD each
    run(app, "provision")
    spender, idle, credited = (load(app, sid) for sid in ids)
    clock.advance(timedelta(days=2))
    seed(gcp,
         (spender.cloud_id, "2026-01-01T10:00:00Z", 30.0, -5.0),
         (spender.cloud_id, "2026-01-02T10:00:00Z", 25.0, None),      # 50 USD: the 50% notice
         (credited.cloud_id, "2026-01-02T10:00:00Z", 80.0, -80.0),    # fully credited
         (spender.cloud_id, "2025-12-31T10:00:00Z", 500.0, None),     # before the sandbox existed
         ("not-a-sandbox", "2026-01-02T10:00:00Z", 999.0, None))

    first = run(app, "budgets")

    assert queries(gcp) == 1 and first.cloud_requests == 1
    assert (first.due, first.done, first.failed) == (3, 3, 0)
    spender, idle, credited = (load(app, sid) for sid in ids)
    assert (spender.spend_usd, idle.spend_usd, credited.spend_usd) == (Decimal(50), Decimal(0), Decimal(0))
    samples = {(s.sandbox_id, s.day): s.amount_usd for s in rows(app, CostSample)}
    assert len(samples) == 2  # the days with spend: none for idle, the credited one, nor Jan 3
    assert samples[(spender.id, JAN1)] == Decimal(25) and samples[(spender.id, JAN2)] == Decimal(25)
    assert {s.source for s in rows(app, CostSample)} == {"gcp-billing-export"}
    assert spender.state == "active" and notice_kinds(app, spender.id) == {"ready": 1, "budget_threshold": 1}
    assert rows(app, Finding) == []  # spend is known: no unknown_spend finding

    # Usage goes on; the next sweep re-reads the whole period and freezes at 100%.
    clock.advance(timedelta(hours=6))
    seed(gcp, (spender.cloud_id, "2026-01-03T08:00:00Z", 55.5, None))
    second = run(app, "budgets")

    assert queries(gcp) == 2 and second.cloud_requests == 1
    assert (second.due, second.done) == (1, 1)  # only the spender's spend changed
    spender = load(app, spender.id)
    assert spender.spend_usd == Decimal("105.5") and spender.state == "frozen"
    assert gcp.project(spender.cloud_id)["parent"] == gcp.folder("sandbox/frozen")
    assert ALICE.email not in " ".join(gcp.members(spender.cloud_id))  # the freeze revoked access
    assert notice_kinds(app, spender.id) == {"ready": 1, "budget_threshold": 2, "frozen": 1}
    (freeze,) = rows(app, Event, Event.sandbox_id == spender.id, Event.action == "freeze")
    assert freeze.detail["reason"] == "budget 100%"
    assert load(app, idle.id).state == "active" and len(rows(app, CostSample)) == 3
    assert load(app, idle.id).spend_at == clock.now()  # its 0 confirmed without claiming it


def test_configuring_the_export_resolves_unknown_spend(make_app, clock, gcp):
    unknown = make_app()
    sandbox_id = request_sandbox(unknown, ALICE, "gcp-individual")["id"]
    run(unknown, "provision")
    run(unknown, "budgets")
    assert [f.resolved_at for f in rows(unknown, Finding)] == [None]
    cloud_id = load(unknown, sandbox_id).cloud_id
    seed(gcp, (cloud_id, "2026-01-01T12:00:00Z", 12.34, None))

    known = make_app(gcp={"billing_export_table": TABLE})
    result = run(known, "budgets")

    assert result.ok and result.cloud_requests == 1
    assert load(known, sandbox_id).spend_usd == Decimal("12.34")
    (finding,) = rows(known, Finding)
    assert finding.kind == "unknown_spend" and finding.resolved_at == clock.now()


def test_a_missing_export_table_fails_the_provider_not_the_sweep(make_app, clock, gcp):
    app = make_app(gcp={"billing_export_table": "billing-admin.billing.no_such_table"})
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    run(app, "provision")

    result = run(app, "budgets")

    assert not result.ok and "billing_export_table" in result.summary()
    assert load(app, sandbox_id).spend_usd is None and rows(app, CostSample) == []
