"""GCP spend end to end through the real commands: `[gcp] billing_export_table` set, spend
seeded into the emulator's Cloud Billing export, `sandbox daemon --once --job budgets`
notifies and then freezes, and `sandbox report cost` shows the spend. Real clock."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

from tests.cli.conftest import Sandbox
from tests.daemon.conftest import write_config

TABLE = "billing-admin.billing.gcp_billing_export_v1_000000_000000_000001"
ADMIN = "admin@example.com"


def control(gcp_url: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(gcp_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def seed(gcp_url: str, project_id: str, when: datetime, cost: float, credit: float = 0.0) -> None:
    control(gcp_url, "POST", "/emulator/billing-export", {"table": TABLE, "rows": [{
        "project_id": project_id, "usage_start_time": when.isoformat(), "cost": cost,
        "credits": [{"name": "Free tier", "amount": credit}] if credit else []}]})


def test_billing_export_drives_notify_then_freeze_and_the_cost_report(tmp_path, db_url, gcp_url):
    cli = Sandbox(write_config(tmp_path / "sandbox.toml", db_url, gcp_url=gcp_url,
                               gcp={"billing_export_table": TABLE}))
    cli("admin", "bootstrap", "--provider", "gcp", user=ADMIN, check=True)
    sandbox = cli.json("request", "gcp-individual", "--wait")  # 100 USD: notify at 50%, freeze at 100%
    project = sandbox["cloud_id"]
    now = datetime.now(timezone.utc)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    seed(gcp_url, project, this_hour, 45.0, credit=-5.0)
    seed(gcp_url, project, this_hour, 10.0)                      # 50 USD today
    seed(gcp_url, project, this_hour - timedelta(days=2), 400.0)  # before the sandbox existed
    before = control(gcp_url, "GET", "/emulator/stats")["requests"]

    first = cli("daemon", "--once", "--job", "budgets", user=ADMIN)

    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == "budgets: 1/1 done\n"
    shown = cli.json("show", sandbox["id"])
    assert (shown["state"], float(shown["spend_usd"])) == ("active", 50.0)
    [crossed] = [e for e in cli.json("events", sandbox["id"]) if e["action"] == "budget_threshold"]
    assert (crossed["detail"]["percent"], crossed["detail"]["action"]) == (50, "notify")

    seed(gcp_url, project, this_hour, 62.25)  # 112.25 USD

    second = cli("daemon", "--once", "--job", "budgets", user=ADMIN)

    assert second.returncode == 0, second.stdout + second.stderr
    shown = cli.json("show", sandbox["id"])
    assert (shown["state"], float(shown["spend_usd"])) == ("frozen", 112.25)
    actions = [e["action"] for e in cli.json("events", sandbox["id"])]
    assert actions.count("budget_threshold") == 2 and "freeze" in actions
    after = control(gcp_url, "GET", "/emulator/stats")["requests"]
    queries = "POST /bigquery/v2/projects/{project}/queries"
    assert after.get(queries, 0) - before.get(queries, 0) == 2  # one query per budget pass

    cost = json.loads(cli("report", "cost", "--group-by", "provider", "--format", "json",
                          user=ADMIN, check=True).stdout)
    assert cost["totals"]["spend_usd"] == 112.25
    assert [(g["group"], g["spend_usd"]) for g in cost["by_group"]] == [("gcp", 112.25)]
    [budget] = cost["budgets"]
    assert (budget["sandbox_id"], budget["provider"], budget["budget_used_pct"]) == (
        sandbox["id"], "gcp", 112.2)
    today = [d for d in cost["by_day"] if d["day"] == now.date().isoformat()]
    assert today == [{"day": now.date().isoformat(), "spend_usd": 112.25}]
