"""A database filled the way production fills it: requests through the service layer, then
the daemon's own sweeps (sandbox.jobs.JOBS: provision, expiry, budgets, tags, reconcile)
run day by day against an in-memory cloud whose spend, tags and failures we choose, so
every figure in the reports is known exactly.

Timeline (FrozenClock; sweeps run at 09:00 on each of 2026-01-01 .. 01-05; reports at
2026-01-05 12:00 UTC):
  engineering  A1 alice aws-individual 7d   active; drifted tags repaired on 01-03; 10.00/day
               A2 alice aws-group            denied by the admin on 01-01
               A3 alice gcp-individual 2d   active past expiry (its freeze fails); spend unknown
               B1 bob   gcp-individual 7d   active, extended by 3d on 01-03; 2.50/day
               B2 bob   aws-individual 2d   frozen by the expiry sweep on 01-03; 1.00/day
               B3 bob   aws-group            waits for approval, withdrawn 01-02 21:00
  research     C1 carol aws-individual 7d   destroyed by carol on 01-05 09:00; 7.25/day
               C2 carol gcp-individual      provisioning fails (failed)
               C3 carol gcp-group            waits for approval, withdrawn 01-02 09:00
  and one account in a managed OU that no sandbox owns (an orphan).
"""

from __future__ import annotations

import threading
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from sandbox.clock import FrozenClock
from sandbox.config import Identity
from sandbox.errors import ProviderError
from sandbox.provider import ManagedResource, Placement, SpendReport
from tests.conftest import ADMIN, ALICE, BOB, make_settings

CAROL = Identity(email="carol@example.com", department="research")
START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
REPORT_AT = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
ORPHAN_ID = "999999999999"


class FakeCloud:
    """The Provider contract in memory. Failures and spend are set per sandbox id."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.Lock()
        self.resources: dict[str, dict[str, Any]] = {}  # cloud_id -> name, location, state, tags, sandbox_id
        self.daily: dict[str, Decimal | None] = {}  # sandbox id -> USD per day (None: unknown)
        self.fail_provision: set[str] = set()
        self.fail_freeze: set[str] = set()
        self.counter = 0

    def _by_sandbox(self, sandbox_id: str) -> str | None:
        return next((cid for cid, r in self.resources.items() if r["sandbox_id"] == sandbox_id), None)

    def bootstrap(self) -> list[str]:
        return []

    def provision(self, plan, steps) -> Placement:
        if plan.sandbox_id in self.fail_provision:
            raise ProviderError(f"no capacity for {plan.name}", retryable=False, code="LimitExceeded")
        with self.lock:
            cloud_id = self._by_sandbox(plan.sandbox_id)
            if cloud_id is None:
                self.counter += 1
                cloud_id = f"{100000000000 + self.counter}" if self.name == "aws" else plan.name
                self.resources[cloud_id] = {"name": plan.name, "location": plan.location, "state": "active",
                                            "tags": dict(plan.tags), "sandbox_id": plan.sandbox_id}
        return Placement(cloud_id, plan.location)

    def grant(self, placement, plan, member, steps) -> None:
        pass

    def revoke(self, placement, plan, member) -> None:
        pass

    def freeze(self, placement, plan, steps) -> dict[str, Any]:
        if plan.sandbox_id in self.fail_freeze:
            raise ProviderError("MoveAccount throttled", retryable=True, code="TooManyRequestsException")
        return {}

    def unfreeze(self, placement, plan, steps) -> dict[str, Any]:
        return {}

    def tag(self, placement, tags) -> dict[str, str]:
        self.resources[placement.cloud_id]["tags"] = dict(tags)
        return {}

    def check_guardrails(self) -> dict[str, str]:
        return {}

    def read_tags(self, placement) -> dict[str, str]:
        if placement.cloud_id not in self.resources:
            raise ProviderError("not found", code="NOT_FOUND")
        return dict(self.resources[placement.cloud_id]["tags"])

    def desired_tags(self, tags: dict[str, str]) -> dict[str, str]:
        return dict(tags)

    def spend(self, placements, start: date, end: date) -> SpendReport:
        by_cloud_id: dict[str, dict[date, Decimal] | None] = {}
        for placement in placements:
            rate = self.daily.get(self.resources[placement.cloud_id]["sandbox_id"], Decimal("0"))
            by_cloud_id[placement.cloud_id] = None if rate is None else {
                start + timedelta(days=n): rate for n in range((end - start).days)}
        return SpendReport(by_cloud_id, start, end, requests=1)

    def destroy(self, placement, plan, steps) -> dict[str, Any]:
        self.resources[placement.cloud_id]["state"] = "closed"
        return {"status": "closed"}

    def list_managed(self) -> list[ManagedResource]:
        return [ManagedResource(cid, r["name"], r["location"], r["state"], dict(r["tags"]))
                for cid, r in self.resources.items()]

    def access_info(self, placement, plan, member, steps) -> dict[str, Any]:
        return {}


@dataclass
class Scenario:
    app: Any
    clock: FrozenClock
    aws: FakeCloud
    gcp: FakeCloud
    ids: dict[str, str] = field(default_factory=dict)
    sweep_errors: list[str] = field(default_factory=list)


def build_app(db_url: str, clock: FrozenClock):
    from sandbox.service import build_app as build

    settings = make_settings(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9",
                             departments={"research": {"aws_ou": "research", "gcp_folder": "research"}})
    app = build(settings, clock=clock)
    aws, gcp = FakeCloud("aws"), FakeCloud("gcp")
    app.use_provider("aws", aws)
    app.use_provider("gcp", gcp)
    return app, aws, gcp


def run_sweeps(scenario: Scenario) -> None:
    from sandbox.jobs import select_jobs

    for job in select_jobs(["provision", "expiry", "budgets", "tags", "reconcile"]):
        result = job.load()(scenario.app)
        assert not result.skipped, result.summary()
        scenario.sweep_errors += result.errors


def fill(scenario: Scenario) -> Scenario:
    from sandbox.service import deny_sandbox, destroy_sandbox, extend_sandbox, request_sandbox

    app, clock, aws, gcp, ids = scenario.app, scenario.clock, scenario.aws, scenario.gcp, scenario.ids

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
    gcp.fail_provision.add(ids["C2"])
    gcp.fail_freeze.add(ids["A3"])
    aws.daily.update({ids["A1"]: Decimal("10.00"), ids["B2"]: Decimal("1.00"), ids["C1"]: Decimal("7.25")})
    gcp.daily.update({ids["B1"]: Decimal("2.50"), ids["A3"]: None})
    aws.resources[ORPHAN_ID] = {"name": "made-by-hand", "location": "/sandbox/active/research",
                                "state": "active", "tags": {}, "sandbox_id": None}
    run_sweeps(scenario)

    clock.advance(timedelta(days=1))  # 01-02 09:00
    destroy_sandbox(app, CAROL, ids["C3"])
    run_sweeps(scenario)
    clock.advance(timedelta(hours=12))  # 01-02 21:00
    destroy_sandbox(app, BOB, ids["B3"])

    clock.advance(timedelta(hours=12))  # 01-03 09:00: someone edits A1's cost tag by hand
    a1_cloud = next(cid for cid, r in aws.resources.items() if r["sandbox_id"] == ids["A1"])
    aws.resources[a1_cloud]["tags"]["cost-center"] = "marketing"
    run_sweeps(scenario)
    extend_sandbox(app, BOB, ids["B1"], "3d")

    clock.advance(timedelta(days=1))  # 01-04 09:00
    run_sweeps(scenario)

    clock.advance(timedelta(days=1))  # 01-05 09:00
    destroy_sandbox(app, CAROL, ids["C1"])
    run_sweeps(scenario)
    clock.advance(timedelta(hours=3))  # 01-05 12:00: report time
    assert clock.now() == REPORT_AT
    return scenario


# Filling takes the sweeps a few seconds, and reports only read: so each test process
# fills one database per backend once, keeps its rows, and copies them into the fresh
# database db_url hands every later test (same ids, same timestamps).
_FILLED: dict[str, dict[str, Any]] = {}


@pytest.fixture
def scenario(db_url):
    backend = db_url.split(":", 1)[0].split("+", 1)[0]
    clock = FrozenClock(START)
    app, aws, gcp = build_app(db_url, clock)
    if backend in _FILLED:
        saved = _FILLED[backend]
        _restore(app.engine, saved["rows"])
        clock.advance(REPORT_AT - START)
        aws.resources, gcp.resources = deepcopy(saved["aws"]), deepcopy(saved["gcp"])
        filled = Scenario(app, clock, aws, gcp, dict(saved["ids"]), list(saved["errors"]))
    else:
        filled = fill(Scenario(app, clock, aws, gcp))
        _FILLED[backend] = {"rows": _snapshot(app.engine), "ids": dict(filled.ids), "errors": list(filled.sweep_errors),
                            "aws": deepcopy(aws.resources), "gcp": deepcopy(gcp.resources)}
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
    clock = FrozenClock(REPORT_AT)
    app, _aws, _gcp = build_app(db_url, clock)
    yield app
    app.engine.dispose()
