"""A database filled the way production fills it: requests through the service layer, then
the daemon's own sweeps (sandbox.jobs.JOBS: provision, expiry, budgets, tags, reconcile)
run day by day against moto and the GCP emulator over HTTP, whose spend, tags and
failures we arrange out of band, so every figure in the reports is known exactly.

Timeline (FrozenClock; the clouds were bootstrapped on 2025-11-03, when research had an
AWS OU but no GCP folder yet; sweeps run at 09:00 on each of 2026-01-01 .. 01-05; reports
at 2026-01-05 12:00 UTC):
  engineering  A1 alice aws-individual 7d   active; drifted tags repaired on 01-03; 10.00/day
               A2 alice aws-group            denied by the admin on 01-01
               A3 alice gcp-individual 2d   active past expiry (its freeze fails); spend unknown
               B1 bob   gcp-individual 7d   active, extended by 3d on 01-03; 2.50/day
               B2 bob   aws-individual 2d   frozen by the expiry sweep on 01-03; 1.00/day
               B3 bob   aws-group            waits for approval, withdrawn 01-02 21:00
  research     C1 carol aws-individual 7d   destroyed by carol on 01-05 09:00; 7.25/day
               C2 carol gcp-individual      provisioning fails (failed): research's GCP
                                            folder was never bootstrapped
               C3 carol gcp-group            waits for approval, withdrawn 01-02 09:00
  and one account in research's OU that no sandbox owns (an orphan), made by hand.

How each fact is made:
  spend        AWS: moto's queued Cost Explorer results, one page per budgets pass, every
               account's days so far (tests/sweeps/test_budgets.py); GCP: rows in the
               emulator's Cloud Billing export ([gcp] billing_export_table), cost plus a
               credit, added each day before the pass (tests/sweeps/test_budgets_gcp.py).
  drift        boto3 changes A1's cost-center tag in moto on 01-03.
  orphan       boto3 creates an account and moves it into research's OU.
  A3's freeze  the emulator's fault control (/emulator/faults) answers A3's getIamPolicy,
               which a GCP freeze reads before it writes anything, with 429
               RESOURCE_EXHAUSTED; each day's attempt fails with nothing changed.
  C2's failure the GCP provider's own FOLDER_NOT_FOUND (non-retryable), no fault needed.
  A3's spend   the one fact written as rows: with a billing export the real GCP provider
               knows every project's spend (0 where the export has none), without one it
               knows none, so "B1 known, A3 unknown" cannot come from it. After the last
               pass A3's spend is set back to NULL and its unknown_spend finding recorded,
               exactly as the budgets sweep records a provider that cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from sandbox.clock import FrozenClock
from sandbox.config import Identity
from tests.conftest import ADMIN, ALICE, BOB, make_settings
from tests.sweeps.conftest import Aws, Gcp, run
from tests.sweeps.test_budgets import ce_day
from tests.sweeps.test_budgets_gcp import TABLE as BILLING_EXPORT, seed

CAROL = Identity(email="carol@example.com", department="research")
BOOTSTRAPPED_AT = datetime(2025, 11, 3, 9, 0, tzinfo=timezone.utc)  # before any report period
START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
REPORT_AT = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
# USD a day from the first day (01-01) until the day before the sandbox is destroyed.
AWS_DAILY = {"A1": Decimal("10.00"), "B2": Decimal("1.00"), "C1": Decimal("7.25")}
GCP_DAILY = {"B1": Decimal("2.50")}
GCP_CREDIT = Decimal("0.50")  # of each GCP day's cost: the export's credits are netted


@dataclass
class Scenario:
    app: Any
    clock: FrozenClock
    ids: dict[str, str] = field(default_factory=dict)  # A1 ... C3 -> sandbox id
    cloud_ids: dict[str, str] = field(default_factory=dict)  # A1 ... and "orphan" -> account / project id
    sweep_errors: list[str] = field(default_factory=list)
    destroyed: dict[str, date] = field(default_factory=dict)  # no spend from this day on


def scenario_settings(db_url: str, aws_url: str = "http://127.0.0.1:9", gcp_url: str = "http://127.0.0.1:9",
                      research_gcp: bool = True):
    research = {"aws_ou": "research", **({"gcp_folder": "research"} if research_gcp else {})}
    return make_settings(db_url, aws_url, gcp_url, departments={"research": research},
                         gcp={"billing_export_table": BILLING_EXPORT})


def build_app(settings, clock: FrozenClock):
    from sandbox.service import build_app as build

    return build(settings, clock=clock)


# ---- the clouds, out of band (tests/sweeps' clients of moto and the emulator) ----------

def make_orphan(aws: Aws) -> str:
    """An account someone made by hand and put in research's OU."""
    account_id = aws.org.create_account(Email="made-by-hand@example.com",
                                        AccountName="made-by-hand")["CreateAccountStatus"]["AccountId"]
    aws.org.move_account(AccountId=account_id, SourceParentId=aws.org.list_roots()["Roots"][0]["Id"],
                         DestinationParentId=aws.ou_id("/sandbox/active/research"))
    return account_id


def fail_freezes_of(gcp: Gcp, project_id: str) -> None:
    """Every getIamPolicy of the project throttled: a GCP freeze reads the policy before it
    writes anything, so each attempt fails with nothing changed and is tried again next pass."""
    gcp.fault(method="POST", path_regex=f"/projects/{project_id}:getIamPolicy$", status=429,
              status_name="RESOURCE_EXHAUSTED", count=1000,
              message="Quota exceeded for quota metric 'Read requests' of service cloudresourcemanager.googleapis.com")


def bill(scenario: Scenario, aws: Aws, gcp: Gcp) -> None:
    """The clouds' billing as of today: Cost Explorer's next answer (every account with spend,
    each day from 01-01 through today, one page) and today's rows in the billing export
    (each day's cost with a credit netted off)."""
    today = scenario.clock.now().date()
    days = [START.date() + timedelta(days=n) for n in range((today - START.date()).days + 1)]

    def spent(key: str, day: date) -> bool:
        return key in scenario.cloud_ids and day < scenario.destroyed.get(key, date.max)

    aws.queue_cost_and_usage([{"ResultsByTime": [
        ce_day(day, *((scenario.cloud_ids[key], str(amount)) for key, amount in AWS_DAILY.items() if spent(key, day)))
        for day in days]}])
    seed(gcp, *((scenario.cloud_ids[key], f"{today.isoformat()}T00:00:00Z", float(amount + GCP_CREDIT),
                 -float(GCP_CREDIT)) for key, amount in GCP_DAILY.items() if spent(key, today)))


# ---- the timeline ----------------------------------------------------------------------

def run_sweeps(scenario: Scenario, aws: Aws, gcp: Gcp) -> None:
    for job in ("provision", "expiry", "budgets", "tags", "reconcile"):
        if job == "budgets":
            bill(scenario, aws, gcp)
        result = run(scenario.app, job)
        if job == "budgets":  # each cloud read its bill once: what was queued is used up
            assert result.cloud_requests == 2, result.summary()
        scenario.sweep_errors += result.errors
        if job == "provision":
            _learn_cloud_ids(scenario)


def _learn_cloud_ids(scenario: Scenario) -> None:
    from sqlmodel import Session, col, select

    from sandbox.models import Sandbox

    key = {sandbox_id: name for name, sandbox_id in scenario.ids.items()}
    with Session(scenario.app.engine) as session:
        for sandbox_id, cloud_id in session.exec(select(Sandbox.id, Sandbox.cloud_id).where(
                col(Sandbox.cloud_id).is_not(None))):
            scenario.cloud_ids.setdefault(key[sandbox_id], cloud_id)


def fill(scenario: Scenario, db_url: str, aws: Aws, gcp: Gcp) -> Scenario:
    from sandbox.service import bootstrap, deny_sandbox, destroy_sandbox, extend_sandbox, request_sandbox

    app, clock, ids = scenario.app, scenario.clock, scenario.ids

    # 2025-11-03: the clouds bootstrapped by a config whose research had no GCP folder yet.
    before = build_app(scenario_settings(db_url, aws.url, gcp.url, research_gcp=False), clock)
    bootstrap(before, ADMIN)
    before.engine.dispose()
    scenario.cloud_ids["orphan"] = make_orphan(aws)
    clock.advance(START - BOOTSTRAPPED_AT)

    def ask(key, who, template, **kwargs):
        ids[key] = request_sandbox(app, who, template, **kwargs)["id"]

    # 2026-01-01 09:00: the requests
    ask("A1", ALICE, "aws-individual", ttl="7d")
    ask("A2", ALICE, "aws-group", members=[BOB.email])
    deny_sandbox(app, ADMIN, ids["A2"], "use an individual sandbox")
    ask("A3", ALICE, "gcp-individual", ttl="2d")
    ask("B1", BOB, "gcp-individual")
    ask("B2", BOB, "aws-individual", ttl="2d")
    ask("B3", BOB, "aws-group", members=[ALICE.email])
    ask("C1", CAROL, "aws-individual", ttl="7d")
    ask("C2", CAROL, "gcp-individual")
    ask("C3", CAROL, "gcp-group", members=[ALICE.email])
    run_sweeps(scenario, aws, gcp)
    fail_freezes_of(gcp, scenario.cloud_ids["A3"])

    clock.advance(timedelta(days=1))  # 01-02 09:00
    destroy_sandbox(app, CAROL, ids["C3"])
    run_sweeps(scenario, aws, gcp)
    clock.advance(timedelta(hours=12))  # 01-02 21:00
    destroy_sandbox(app, BOB, ids["B3"])

    clock.advance(timedelta(hours=12))  # 01-03 09:00: someone edits A1's cost tag by hand
    aws.org.tag_resource(ResourceId=scenario.cloud_ids["A1"], Tags=[{"Key": "cost-center", "Value": "marketing"}])
    run_sweeps(scenario, aws, gcp)
    extend_sandbox(app, BOB, ids["B1"], "3d")

    clock.advance(timedelta(days=1))  # 01-04 09:00
    run_sweeps(scenario, aws, gcp)

    clock.advance(timedelta(days=1))  # 01-05 09:00
    destroy_sandbox(app, CAROL, ids["C1"])
    scenario.destroyed["C1"] = clock.now().date()
    run_sweeps(scenario, aws, gcp)
    record_unknown_spend(scenario, "A3", first_seen=START)
    gcp.clear_faults()
    clock.advance(timedelta(hours=3))  # 01-05 12:00: report time
    assert clock.now() == REPORT_AT
    return scenario


def record_unknown_spend(scenario: Scenario, key: str, first_seen: datetime) -> None:
    """The sandbox's spend as a provider without a cost source leaves it: spend_usd NULL, no
    samples, an open unknown_spend finding seen at every pass (sandbox.sweeps.budgets)."""
    from sqlalchemy import delete, update

    from sandbox.models import CostSample, Sandbox
    from sandbox.sweeps.common import upsert_finding

    app, sandbox_id = scenario.app, scenario.ids[key]
    with app.session() as session:
        read = session.get_one(Sandbox, sandbox_id).spend_usd
        assert read == 0, f"the emulator's export now gives {key} spend {read}: arrange unknown spend another way"
        session.execute(delete(CostSample).where(CostSample.sandbox_id == sandbox_id))
        session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(spend_usd=None, spend_at=None))
    for seen in (first_seen, app.now()):
        upsert_finding(app, kind="unknown_spend", provider="gcp", cloud_id=scenario.cloud_ids[key],
                       sandbox_id=sandbox_id, now=seen,
                       detail={"reason": "gcp has no cost source; spend is unknown"})


# Filling takes the sweeps a few seconds, and reports only read: so each test process
# fills one database per backend once (resetting moto and the emulator first), keeps its
# rows, and copies them into the fresh database db_url hands every later test (same ids,
# same timestamps). The clouds are not used after that.
_FILLED: dict[str, dict[str, Any]] = {}


@pytest.fixture
def scenario(db_url, request):
    backend = db_url.split(":", 1)[0].split("+", 1)[0]
    if backend in _FILLED:
        saved = _FILLED[backend]
        clock = FrozenClock(REPORT_AT)
        app = build_app(scenario_settings(db_url), clock)
        _restore(app.engine, saved["rows"])
        filled = Scenario(app, clock, dict(saved["ids"]), dict(saved["cloud_ids"]), list(saved["errors"]))
    else:
        aws, gcp = Aws(request.getfixturevalue("aws_url")), Gcp(request.getfixturevalue("gcp_url"))
        clock = FrozenClock(BOOTSTRAPPED_AT)
        app = build_app(scenario_settings(db_url, aws.url, gcp.url), clock)
        filled = fill(Scenario(app, clock), db_url, aws, gcp)
        _FILLED[backend] = {"rows": _snapshot(app.engine), "ids": dict(filled.ids),
                            "cloud_ids": dict(filled.cloud_ids), "errors": list(filled.sweep_errors)}
    yield filled
    app.engine.dispose()


def _snapshot(engine) -> dict[str, list[dict]]:
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        return {table.name: [dict(row) for row in conn.execute(table.select()).mappings()]
                for table in SQLModel.metadata.sorted_tables}


def _restore(engine, rows: dict[str, list[dict]]) -> None:
    from sqlalchemy import text
    from sqlmodel import SQLModel

    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if rows.get(table.name):
                conn.execute(table.insert(), rows[table.name])
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for name in ("event", "member", "cost_sample", "finding", "notification", "credential"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"COALESCE((SELECT max(id) FROM {name}), 0) + 1, false)"))


@pytest.fixture
def empty_app(db_url):
    """No cloud behind it (its endpoints refuse connections): reports read the database only."""
    app = build_app(scenario_settings(db_url), FrozenClock(REPORT_AT))
    yield app
    app.engine.dispose()
