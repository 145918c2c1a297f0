"""Small things a new user reads: the --wait header's grammar, the audit report's
--sandbox agreeing with `sandbox events`, and the README stating the defaults it relies on."""

from __future__ import annotations

import json
import re

from sandbox.config import Settings
from sandbox.durations import parse_duration
from tests.cli.conftest import ROOT, assert_one_line_error

ADMIN = "admin@example.com"


def test_the_wait_header_says_an_aws_and_a_gcp(cloud_cli):
    aws = cloud_cli("request", "aws-individual", "--wait", check=True)
    gcp = cloud_cli("request", "gcp-individual", "--wait", check=True)

    assert aws.stderr.splitlines()[0] == "provisioning an aws-individual sandbox..."
    assert gcp.stderr.splitlines()[0] == "provisioning a gcp-individual sandbox..."


def test_report_audit_sandbox_takes_a_known_id_or_fails_like_events(sandbox_cli):
    view = sandbox_cli.json("request", "gcp-individual")

    for ref in (view["id"], view["id"][:4], view["name"]):
        events = json.loads(sandbox_cli("report", "audit", "--sandbox", ref, "-o", "json", user=ADMIN,
                                        check=True).stdout)["events"]
        assert [e["action"] for e in events] == ["request"]
    unknown_events = sandbox_cli("events", "zzz")
    unknown_report = sandbox_cli("report", "audit", "--sandbox", "zzz", user=ADMIN)
    assert_one_line_error(unknown_report, "no sandbox with id 'zzz'")
    assert (unknown_report.returncode, unknown_report.stderr) == (unknown_events.returncode, unknown_events.stderr)


def test_the_readme_states_the_default_quota_minutes_and_sandbox_user():
    readme = " ".join((ROOT / "README.md").read_text().split())

    assert f"Each person may have {Settings().quotas.max_live_per_user} live sandboxes at once" in readme
    assert parse_duration("1m").total_seconds() == 60 and "`m` minutes" in readme
    assert re.search(r"`SANDBOX_USER`[^.]*: the e-mail an operator acts as", readme)
