"""Who sees which rows: an admin everything, a manager every report over their own
departments' sandboxes only (totals and charts included), anyone else nothing (refused,
audited). The scenario (conftest.py) has engineering sandboxes A1-A3 and B1-B3, research
sandboxes C1-C3 and an orphan account that belongs to no sandbox."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from sandbox.config import Identity
from sandbox.errors import NotFoundError, PermissionDeniedError
from sandbox.models import Event, Sandbox
from sandbox.reports import KINDS, build_report, render_report, run_report
from tests.conftest import ADMIN, ALICE
from tests.reports.conftest import CAROL

ENG_MANAGER = Identity(email="erin@example.com", department="engineering", manages=frozenset({"engineering"}))
RESEARCH_MANAGER = Identity(email="rita@example.com", department="research", manages=frozenset({"research"}))
ENGINEERING = {"A1", "A2", "A3", "B1", "B2", "B3"}
RESEARCH = {"C1", "C2", "C3"}


def report(scenario, who, kind, **options):
    return json.loads(run_report(scenario.app, who, kind, fmt="json", **options).text)


def names(scenario, sandbox_ids) -> list:
    """Sandbox ids as the scenario's keys (A1, C2, ...); None for a row of no sandbox."""
    key = {sandbox_id: name for name, sandbox_id in scenario.ids.items()}
    return [key[sandbox_id] if sandbox_id else None for sandbox_id in sandbox_ids]


def test_a_plain_user_is_refused_every_report_and_each_refusal_is_audited(scenario):
    with Session(scenario.app.engine) as session:
        before = session.exec(select(Event.id).order_by(Event.id.desc())).first()
    for kind in (*KINDS, "spending"):  # the check comes before the input is even read
        with pytest.raises(PermissionDeniedError, match="^only managers and admins see reports"):
            run_report(scenario.app, ALICE, kind, fmt="json")
    with Session(scenario.app.engine) as session:
        refusals = session.exec(select(Event).where(Event.id > before)).all()
    assert [(e.actor, e.action, e.sandbox_id, e.detail) for e in refusals] == [
        (ALICE.email, "denied_access", None, {"attempted": "see reports"})] * (len(KINDS) + 1)


def test_a_scoped_report_says_so_in_its_parameters(scenario):
    for kind in KINDS:
        assert report(scenario, ENG_MANAGER, kind)["departments"] == ["engineering"]
        assert "departments" not in report(scenario, ADMIN, kind)
    assert "only departments research" in run_report(scenario.app, RESEARCH_MANAGER, "cost", fmt="table").text


def test_usage(scenario):
    engineering = {"requests": 6, "active": 3, "frozen": 1, "live": 4, "deleted": 1, "sandbox_days": 18.0,
                   "extensions": 1, "median_lifetime_days": 1.5}
    research = {"requests": 3, "active": 0, "frozen": 0, "live": 0, "deleted": 2, "sandbox_days": 9.125,
                "extensions": 0, "median_lifetime_days": 2.5}
    for who, department, totals, states in (
            (ENG_MANAGER, "engineering", engineering, {"active": 3, "frozen": 1, "failed": 0}),
            (RESEARCH_MANAGER, "research", research, {"active": 0, "frozen": 0, "failed": 1})):
        data = report(scenario, who, "usage")
        assert data["by_group"] == [{"group": department, **totals}]
        assert data["totals"] == totals
        by_state = {r["state"]: r["sandboxes"] for r in data["by_state"]}
        assert {state: by_state[state] for state in states} == states
        assert sum(by_state.values()) == sum(states.values())
    assert [r["group"] for r in report(scenario, RESEARCH_MANAGER, "usage", group_by="owner")["by_group"]] == [
        CAROL.email]
    everything = report(scenario, ADMIN, "usage")
    assert [r["group"] for r in everything["by_group"]] == ["engineering", "research"]
    assert everything["totals"]["requests"] == 9


def test_cost(scenario):
    ids = scenario.ids
    eng = report(scenario, ENG_MANAGER, "cost")
    assert eng["totals"] == {"spend_usd": 67.5, "deleted_spend_usd": 0.0, "sandboxes": 3, "days": 30}
    assert eng["by_group"] == [
        {"group": "engineering", "sandboxes": 3, "spend_usd": 67.5, "deleted_spend_usd": 0.0, "share_pct": 100.0}]
    assert [r["spend_usd"] for r in eng["by_day"][-5:]] == [13.5] * 5  # A1 10.00 + B1 2.50 + B2 1.00 a day
    assert [(r["spend_rank"], r["sandbox_id"], r["spend_usd"]) for r in eng["top_spenders"]] == [
        (1, ids["A1"], 50.0), (2, ids["B1"], 12.5), (3, ids["B2"], 5.0)]
    assert sorted(names(scenario, [r["sandbox_id"] for r in eng["budgets"]])) == ["A1", "B1", "B2"]

    research = report(scenario, RESEARCH_MANAGER, "cost")
    assert research["totals"] == {"spend_usd": 29.0, "deleted_spend_usd": 29.0, "sandboxes": 1, "days": 30}
    assert research["by_group"] == [
        {"group": "research", "sandboxes": 1, "spend_usd": 29.0, "deleted_spend_usd": 29.0, "share_pct": 100.0}]
    assert [r["spend_usd"] for r in research["by_day"][-5:]] == [7.25] * 4 + [0.0]  # C1 deleted on 01-05
    assert [(r["spend_rank"], r["sandbox_id"]) for r in research["top_spenders"]] == [(1, ids["C1"])]

    assert report(scenario, ADMIN, "cost")["totals"]["spend_usd"] == 96.5


def test_expiring(scenario):
    # Nothing of research's expires in the scenario: one of its sandboxes expiring in 2 days.
    now = scenario.app.now()
    with Session(scenario.app.engine) as session:
        session.add(Sandbox(id="0e0e0e0e", name="carol-0e0e0e0e", provider="aws", template="aws-individual",
                            owner=CAROL.email, department="research", state="active", cloud_id="222233334444",
                            created_at=now - timedelta(days=1), expires_at=now + timedelta(days=2),
                            budget_usd=Decimal("100"), spend_usd=Decimal("3")))
        session.commit()
    eng = report(scenario, ENG_MANAGER, "expiring")
    assert [(r["action"], name) for r, name in zip(eng["actions"], names(scenario, [
        r["sandbox_id"] for r in eng["actions"]]))] == [
        ("freeze", "A3"), ("delete", "B2"), ("warn", "A1"), ("warn", "B1"), ("freeze", "A1"), ("warn", "B1"),
        ("freeze", "B1")]
    assert eng["totals"] == {"warn": 3, "freeze": 3, "delete": 1}

    research = report(scenario, RESEARCH_MANAGER, "expiring")
    assert [(r["action"], r["lead"], r["sandbox_id"], r["department"]) for r in research["actions"]] == [
        ("warn", "1d", "0e0e0e0e", "research"), ("freeze", None, "0e0e0e0e", "research")]
    assert research["totals"] == {"warn": 1, "freeze": 1, "delete": 0}

    assert report(scenario, ADMIN, "expiring")["totals"] == {"warn": 4, "freeze": 4, "delete": 1}


def test_compliance(scenario):
    def found(data):
        return [(r["category"], name) for r, name in zip(
            data["findings"], names(scenario, [r["sandbox_id"] for r in data["findings"]]))]

    eng = report(scenario, ENG_MANAGER, "compliance")
    assert found(eng) == [("drift", "A1"), ("unknown_spend", "A3"), ("past_expiry", "A3")]
    assert eng["totals"] == {"open_tampering": 0, "open_guardrail": 0, "open_unreachable": 0, "open_drift": 0, "open_orphan": 0, "open_unknown_spend": 1, "past_expiry": 1,
                             "past_grace": 0, "failed": 0, "tags_repaired_events": 1, "provision_failed_events": 0}

    research = report(scenario, RESEARCH_MANAGER, "compliance")
    assert found(research) == [("failed", "C2")]  # the orphan in research's OU is no sandbox's: admins only
    assert research["totals"] == {"open_tampering": 0, "open_guardrail": 0, "open_unreachable": 0, "open_drift": 0, "open_orphan": 0, "open_unknown_spend": 0, "past_expiry": 0,
                                  "past_grace": 0, "failed": 1, "tags_repaired_events": 0,
                                  "provision_failed_events": 1}

    everything = report(scenario, ADMIN, "compliance")
    assert ("orphan", None) in found(everything) and everything["totals"]["open_orphan"] == 1


def test_audit(scenario):
    with pytest.raises(PermissionDeniedError):  # an event of no sandbox: admins only
        run_report(scenario.app, ALICE, "audit", fmt="json")
    for who, department, events in ((ENG_MANAGER, ENGINEERING, 25), (RESEARCH_MANAGER, RESEARCH, 10)):
        data = report(scenario, who, "audit")
        assert set(names(scenario, [e["sandbox_id"] for e in data["events"]])) == department
        assert data["totals"] == {"events": events} and len(data["events"]) == events
        assert sum(r["events"] for r in data["by_action"]) == events
        assert "denied_access" not in {r["action"] for r in data["by_action"]}
    # A filter cannot reach past the scope: another department's sandbox is an unknown id.
    with pytest.raises(NotFoundError, match="no sandbox with id"):
        report(scenario, RESEARCH_MANAGER, "audit", sandbox=scenario.ids["A1"])
    assert [e["action"] for e in report(scenario, RESEARCH_MANAGER, "audit", action="provision_failed")["events"]] == [
        "provision_failed"]
    assert report(scenario, ENG_MANAGER, "audit", action="provision_failed")["events"] == []

    everything = report(scenario, ADMIN, "audit")
    assert everything["totals"]["events"] == 36
    assert names(scenario, [e["sandbox_id"] for e in everything["events"] if e["action"] == "denied_access"]) == [None]


@pytest.mark.parametrize("kind", KINDS)
def test_html_overview(scenario, kind):
    ids = scenario.ids
    _report, overview, _params = build_report(scenario.app, ENG_MANAGER, kind, fmt="html", inline=True)
    assert [r["spend_usd"] for r in overview["by_day"].rows[-5:]] == [13.5] * 5
    assert [(r["group"], r["spend_usd"], r["share_pct"]) for r in overview["by_group"].rows] == [
        ("engineering", 67.5, 100.0)]
    assert [r["sandbox_id"] for r in overview["top_spenders"].rows] == [ids["A1"], ids["B1"], ids["B2"]]
    by_state = {r["state"]: r["sandboxes"] for r in overview["by_state"].rows}
    assert (by_state["active"], by_state["frozen"], by_state["failed"]) == (3, 1, 0)
    assert [(r["category"], r["sandbox_id"]) for r in overview["findings"].rows] == [
        ("drift", ids["A1"]), ("unknown_spend", ids["A3"]), ("past_expiry", ids["A3"])]

    page = render_report(scenario.app, ENG_MANAGER, kind, fmt="html")
    assert "only departments engineering" in page
    # Nothing of research's, the chart labels (SVG comments) included; the orphan sits in research's OU.
    hidden = ("research", CAROL.email, scenario.cloud_ids["orphan"], *(ids[name] for name in RESEARCH))
    assert [text for text in hidden if text in page] == []

    _report, everything, _params = build_report(scenario.app, ADMIN, kind, fmt="html", inline=True)
    assert [r["group"] for r in everything["by_group"].rows] == ["engineering", "research"]
    assert {r["category"] for r in everything["findings"].rows} >= {"orphan", "failed"}
