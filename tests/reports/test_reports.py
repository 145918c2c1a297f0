"""Every report's numbers, on SQLite and PostgreSQL, from a database the daemon's sweeps filled
(see conftest.py for the timeline and the arithmetic behind each expected figure)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from sandbox.errors import NotFoundError
from sandbox.reports import KINDS, run_report
from tests.conftest import ADMIN

# A reference the browser would load: src/href/url()/@import to another origin or file.
REMOTE = re.compile(r"""(?:\bsrc\s*=|\bhref\s*=|url\(|@import)\s*["']?\s*(?!#|data:)[a-z]*:?//""", re.I)


def report(scenario, kind, **options):
    return json.loads(run_report(scenario.app, ADMIN, kind, fmt="json", **options).text)


def by(rows, key):
    return {row[key]: row for row in rows}


def test_the_sweeps_did_what_the_timeline_says(scenario):
    # Only the two failures we arranged: C2's provision and A3's freeze (each day it is overdue).
    ids = scenario.ids
    assert scenario.sweep_errors[0].startswith(f"sandbox {ids['C2']}: provisioning")
    assert all(ids["A3"] in error for error in scenario.sweep_errors[1:]) and len(scenario.sweep_errors) == 4


def test_usage_by_department(scenario):
    data = report(scenario, "usage")
    assert (data["report"], data["since"], data["until"], data["group_by"]) == (
        "usage", "2025-12-07", "2026-01-05", "department")
    rows = by(data["by_group"], "group")
    # engineering: A1 A3 B1 B2 live 4.125 days each, B3 withdrawn after 1.5 days, A2 denied (0)
    assert rows["engineering"] == {
        "group": "engineering", "requests": 6, "active": 3, "frozen": 1, "live": 4, "deleted": 1,
        "sandbox_days": 18.0, "extensions": 1, "median_lifetime_days": 1.5}
    # research: C1 deleted after 4 days, C2 failed (4.125 days), C3 withdrawn after 1 day
    assert rows["research"] == {
        "group": "research", "requests": 3, "active": 0, "frozen": 0, "live": 0, "deleted": 2,
        "sandbox_days": 9.125, "extensions": 0, "median_lifetime_days": 2.5}
    assert [r["group"] for r in data["by_group"]] == ["engineering", "research"]  # most sandbox-days first
    assert data["totals"] == {"requests": 9, "active": 3, "frozen": 1, "live": 4, "deleted": 3,
                              "sandbox_days": 27.125, "extensions": 1, "median_lifetime_days": 1.5}
    assert by(data["by_state"], "state") == {
        "requested": {"state": "requested", "sandboxes": 0}, "provisioning": {"state": "provisioning", "sandboxes": 0},
        "active": {"state": "active", "sandboxes": 3}, "frozen": {"state": "frozen", "sandboxes": 1},
        "deleting": {"state": "deleting", "sandboxes": 0}, "failed": {"state": "failed", "sandboxes": 1}}


def test_usage_by_owner_and_a_period_that_ends_before_the_deletions(scenario):
    rows = by(report(scenario, "usage", group_by="owner")["by_group"], "group")
    assert {o: r["requests"] for o, r in rows.items()} == {
        "alice@example.com": 3, "bob@example.com": 3, "carol@example.com": 3}
    assert rows["bob@example.com"]["median_lifetime_days"] == 1.5
    assert rows["alice@example.com"]["median_lifetime_days"] is None  # nothing of hers ended

    # Only 2026-01-01: every sandbox lived 15 h of it, except the denied one.
    data = report(scenario, "usage", since="2026-01-01", until="2026-01-01")
    assert data["totals"]["sandbox_days"] == 8 * 0.625
    assert data["totals"]["deleted"] == 0 and data["totals"]["median_lifetime_days"] is None
    assert report(scenario, "usage", since="2025-01-01", until="2025-01-31")["by_group"] == []


def test_cost_by_group_day_and_sandbox(scenario):
    ids = scenario.ids
    data = report(scenario, "cost")
    # A1 10.00 x 5 days, B1 2.50 x 5, B2 1.00 x 5 (frozen sandboxes still cost), C1 7.25 x 4
    assert data["totals"] == {"spend_usd": 96.5, "deleted_spend_usd": 29.0, "sandboxes": 4, "days": 30}
    assert data["by_group"] == [
        {"group": "engineering", "sandboxes": 3, "spend_usd": 67.5, "deleted_spend_usd": 0.0, "share_pct": 69.9},
        {"group": "research", "sandboxes": 1, "spend_usd": 29.0, "deleted_spend_usd": 29.0, "share_pct": 30.1},
    ]
    days = {r["day"]: r["spend_usd"] for r in data["by_day"]}
    assert len(days) == 30 and days["2025-12-07"] == 0.0
    assert [days[f"2026-01-0{d}"] for d in range(1, 6)] == [20.75, 20.75, 20.75, 20.75, 13.5]
    top = data["top_spenders"]
    assert [(r["spend_rank"], r["sandbox_id"], r["spend_usd"]) for r in top] == [
        (1, ids["A1"], 50.0), (2, ids["C1"], 29.0), (3, ids["B1"], 12.5), (4, ids["B2"], 5.0)]
    budgets = by(data["budgets"], "sandbox_id")
    assert budgets[ids["A1"]]["budget_used_pct"] == 50.0 and budgets[ids["A1"]]["budget_usd"] == 100.0
    assert budgets[ids["C1"]]["state"] == "deleted" and budgets[ids["C1"]]["total_spend_usd"] == 29.0
    assert ids["A3"] not in budgets  # unknown spend is not zero spend


def test_cost_by_owner_and_a_shorter_period(scenario):
    data = report(scenario, "cost", group_by="owner", since="2026-01-04", until="2026-01-05")
    assert {r["group"]: r["spend_usd"] for r in data["by_group"]} == {
        "alice@example.com": 20.0, "carol@example.com": 7.25, "bob@example.com": 7.0}
    assert data["totals"]["spend_usd"] == 34.25
    assert [r["day"] for r in data["by_day"]] == ["2026-01-04", "2026-01-05"]
    # budget use is lifetime spend, the spend columns are the period's
    a1 = by(data["budgets"], "sandbox_id")[scenario.ids["A1"]]
    assert (a1["spend_usd"], a1["total_spend_usd"], a1["budget_used_pct"]) == (20.0, 50.0, 50.0)
    assert {r["group"] for r in report(scenario, "cost", group_by="provider")["by_group"]} == {"aws", "gcp"}
    assert report(scenario, "cost", group_by="template")["by_group"][0]["group"] == "aws-individual"


def test_expiring_next_week(scenario):
    ids = scenario.ids
    data = report(scenario, "expiring")
    assert (data["days"], data["from"], data["to"]) == (7, "2026-01-05T12:00:00Z", "2026-01-12T12:00:00Z")
    got = [(r["due_at"], r["action"], r["lead"], r["sandbox_id"], r["overdue"]) for r in data["actions"]]
    assert got == [
        ("2026-01-03T09:00:00Z", "freeze", None, ids["A3"], True),  # its freeze keeps failing
        ("2026-01-06T09:00:00Z", "delete", None, ids["B2"], False),  # frozen on 01-03, 3 days' grace
        ("2026-01-07T09:00:00Z", "warn", "1d", ids["A1"], False),  # the 3d warning went on 01-05
        ("2026-01-08T09:00:00Z", "warn", "3d", ids["B1"], False),  # extended to 01-11
        ("2026-01-08T09:00:00Z", "freeze", None, ids["A1"], False),
        ("2026-01-10T09:00:00Z", "warn", "1d", ids["B1"], False),
        ("2026-01-11T09:00:00Z", "freeze", None, ids["B1"], False),
    ]
    assert data["totals"] == {"warn": 3, "freeze": 3, "delete": 1}
    rows = data["actions"]
    assert rows[2]["owner"] == "alice@example.com" and rows[2]["spend_usd"] == 50.0
    assert rows[0]["spend_usd"] is None  # unknown, not zero

    short = report(scenario, "expiring", days="2")
    assert [(r["action"], r["sandbox_id"]) for r in short["actions"]] == [
        ("freeze", ids["A3"]), ("delete", ids["B2"]), ("warn", ids["A1"])]


def test_compliance_lists_every_kind_of_problem(scenario):
    ids = scenario.ids
    data = report(scenario, "compliance")
    got = [(r["category"], r["status"], r["sandbox_id"], r["cloud_id"]) for r in data["findings"]]
    clouds = scenario.cloud_ids
    assert got == [
        ("drift", "repaired", ids["A1"], clouds["A1"]),
        ("orphan", "open", None, clouds["orphan"]),
        ("unknown_spend", "open", ids["A3"], f"alice-{ids['A3']}"),
        ("past_expiry", "open", ids["A3"], f"alice-{ids['A3']}"),
        ("failed", "open", ids["C2"], None),
    ]
    drift, orphan, _unknown, overdue, failed = data["findings"]
    assert drift["detail"]["before"] == {"cost-center": "marketing"} and drift["resolved_at"] == "2026-01-03T09:00:00Z"
    assert orphan["detail"]["name"] == "made-by-hand" and orphan["first_seen"] == "2026-01-01T09:00:00Z"
    assert overdue["detail"]["overdue_hours"] == 51.0 and overdue["owner"] == "alice@example.com"
    assert failed["last_seen"] == "2026-01-01T09:00:00Z"
    assert "GCP folder sandbox/active/research does not exist" in failed["detail"]["last_error"]
    assert data["totals"] == {"open_tampering": 0, "open_guardrail": 0, "open_unreachable": 0, "open_drift": 0, "open_orphan": 1, "open_unknown_spend": 1, "past_expiry": 1,
                              "past_grace": 0, "failed": 1, "tags_repaired_events": 1, "provision_failed_events": 1}
    # A period before the repair: the drift (resolved on 01-03) is not in it; open findings always are.
    early = report(scenario, "compliance", since="2026-01-04", until="2026-01-05")
    assert [r["category"] for r in early["findings"]][:2] == ["orphan", "unknown_spend"]
    assert early["totals"]["tags_repaired_events"] == 0


def test_compliance_past_grace(scenario):
    scenario.clock.advance(__import__("datetime").timedelta(days=1))  # 01-06 12:00: B2's grace is over
    rows = report(scenario, "compliance")["findings"]
    assert ("past_grace", scenario.ids["B2"]) in [(r["category"], r["sandbox_id"]) for r in rows]


def test_audit_filters(scenario):
    ids = scenario.ids
    everything = report(scenario, "audit")
    assert everything["totals"]["events"] == len(everything["events"]) == 35
    assert everything["filters"] == {"sandbox": None, "actor": None, "action": None}
    assert sum(r["events"] for r in everything["by_action"]) == 35
    assert by(everything["by_action"], "action")["request"]["events"] == 9

    b1 = report(scenario, "audit", sandbox=ids["B1"][:5])
    assert [e["action"] for e in b1["events"]] == ["request", "provision_start", "provisioned", "extend"]
    assert b1["filters"]["sandbox"] == ids["B1"][:5]
    assert [e["action"] for e in report(scenario, "audit", sandbox=f"bob-{ids['B1']}")["events"]] == [
        "request", "provision_start", "provisioned", "extend"]

    (deny,) = report(scenario, "audit", actor="ADMIN@example.com")["events"]
    assert (deny["action"], deny["sandbox_id"], deny["detail"]) == ("deny", ids["A2"], {"reason": "use an individual sandbox"})
    (extend,) = report(scenario, "audit", action="extend")["events"]
    assert extend["actor"] == "bob@example.com" and extend["at"] == "2026-01-03T09:00:00Z"
    daemon_freezes = report(scenario, "audit", actor="daemon", action="freeze")["events"]
    assert [e["sandbox_id"] for e in daemon_freezes] == [ids["B2"]]
    assert report(scenario, "audit", since="2026-01-02", until="2026-01-02")["totals"]["events"] == 4
    with pytest.raises(NotFoundError, match="no sandbox with id 'ffffffff'"):  # as `sandbox events ffffffff`
        report(scenario, "audit", sandbox="ffffffff")


@pytest.mark.parametrize("kind", KINDS)
def test_every_format_carries_the_same_rows(scenario, kind, tmp_path):
    data = report(scenario, kind)
    sections = [k for k, v in data.items() if isinstance(v, list)]

    text = run_report(scenario.app, ADMIN, kind, fmt="csv").text
    table = list(csv.reader(io.StringIO(text)))
    header = table[0]
    assert header[0] == "section"
    for section in sections:
        rows = [dict(zip(header, r)) for r in table[1:] if r[0] == section]
        assert len(rows) == len(data[section])
        for csv_row, json_row in zip(rows, data[section]):
            for key, value in json_row.items():
                assert csv_row[key] == _csv_text(value), (section, key)

    shown = run_report(scenario.app, ADMIN, kind, fmt="table").text
    assert data["totals"] and all(key in shown for key in data["totals"])

    reports = tmp_path / "reports"
    reports.mkdir()
    out = reports / f"{kind}.html"
    result = run_report(scenario.app, ADMIN, kind, fmt="html", out=str(out))
    assert result.path == out and result.text is None
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert not REMOTE.search(page)  # nothing to fetch at view time
    assert list(reports.iterdir()) == [out]  # no temporary file left behind

    saved = reports / f"{kind}.json"
    run_report(scenario.app, ADMIN, kind, fmt="json", out=str(saved))
    assert json.loads(saved.read_text())["report"] == kind


def _csv_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else ""
    return str(value)


def test_csv_headers(scenario):
    headers = {kind: next(csv.reader(io.StringIO(run_report(scenario.app, ADMIN, kind, fmt="csv").text)))
               for kind in KINDS}
    assert headers["usage"] == ["section", "group", "requests", "active", "frozen", "live", "deleted",
                                "sandbox_days", "extensions", "median_lifetime_days", "state", "sandboxes"]
    assert headers["cost"][:6] == ["section", "group", "sandboxes", "spend_usd", "deleted_spend_usd", "share_pct"]
    assert headers["expiring"][:4] == ["section", "due_at", "action", "lead"]
    assert headers["compliance"] == ["section", "category", "status", "sandbox_id", "owner", "department",
                                     "provider", "cloud_id", "first_seen", "last_seen", "resolved_at", "detail"]
    assert headers["audit"] == ["section", "id", "at", "sandbox_id", "actor", "action", "from_state", "to_state",
                                "detail", "events"]


def test_reports_on_an_empty_database(empty_app, tmp_path):
    for kind in KINDS:
        data = json.loads(run_report(empty_app, ADMIN, kind, fmt="json").text)
        assert data["report"] == kind
        run_report(empty_app, ADMIN, kind, fmt="table")
        run_report(empty_app, ADMIN, kind, fmt="html", out=str(tmp_path / f"{kind}.html"))
    cost = json.loads(run_report(empty_app, ADMIN, "cost", fmt="json").text)
    assert cost["totals"]["spend_usd"] == 0.0 and cost["by_group"] == [] and len(cost["by_day"]) == 30
    assert json.loads(run_report(empty_app, ADMIN, "usage", fmt="json").text)["totals"]["sandbox_days"] == 0.0
