"""Who may see reports, and what bad input does: one line, a non-zero exit, no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from sandbox.errors import PermissionDeniedError, UsageError
from sandbox.models import Event
from sandbox.reports import run_report
from tests.conftest import ADMIN, ALICE

ROOT = Path(__file__).resolve().parents[2]


def test_non_admin_is_refused_and_the_refusal_is_audited(empty_app):
    with pytest.raises(PermissionDeniedError, match="only managers and admins see reports"):
        run_report(empty_app, ALICE, "cost", fmt="json")
    with Session(empty_app.engine) as session:
        (event,) = session.exec(select(Event)).all()
    assert (event.actor, event.action, event.detail) == (ALICE.email, "denied_access", {"attempted": "see reports"})
    # ...and it shows up in the audit report
    (seen,) = json.loads(run_report(empty_app, ADMIN, "audit", fmt="json", action="denied_access").text)["events"]
    assert seen["actor"] == ALICE.email


def test_non_admin_is_refused_before_anything_is_written(empty_app, tmp_path):
    target = tmp_path / "out" / "cost.html"
    target.parent.mkdir()
    with pytest.raises(PermissionDeniedError):
        run_report(empty_app, ALICE, "cost", fmt="html", out=str(target))
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("kind, options, message", [
    ("spending", {}, "unknown report 'spending'; use one of: usage, cost, expiring, compliance, audit"),
    ("cost", {"group_by": "team"}, "unknown --group-by 'team'; use one of: owner, department, template, provider"),
    ("cost", {"fmt": "xml"}, "unknown --format 'xml'; use one of: table, csv, json, html"),
    ("cost", {"since": "2026-02-01", "until": "2026-01-01"}, "--since 2026-02-01 is after --until 2026-01-01"),
    ("cost", {"since": "2026-02-30"}, "--since '2026-02-30' is not a date; use YYYY-MM-DD"),
    ("cost", {"until": "01/02/2026"}, "--until '01/02/2026' is not a date"),
    ("cost", {"since": "2026-1-5"}, "is not a date"),
    ("cost", {"since": "2030-01-01"}, None),  # a future --since with no --until: --until follows it
    ("expiring", {"days": "soon"}, "--days 'soon' is not a whole number"),
    ("expiring", {"days": "0"}, "--days 0 is out of range; use 1 to 366"),
    ("expiring", {"since": "2026-01-01"}, "--since does not apply to the expiring report (expiring looks ahead"),
    ("cost", {"days": "3"}, "--days does not apply to the cost report; it applies to: expiring"),
    ("usage", {"actor": "bob@example.com"}, "--actor does not apply to the usage report; it applies to: audit"),
    ("audit", {"group_by": "owner"}, "--group-by does not apply to the audit report"),
    ("cost", {"fmt": "html"}, "--format html writes a file: add --out FILE"),
])
def test_bad_input_is_one_line(empty_app, kind, options, message):
    options = {"fmt": "json", **options}
    if message is None:
        data = json.loads(run_report(empty_app, ADMIN, kind, **options).text)
        assert (data["since"], data["until"]) == ("2030-01-01", "2030-01-01")
        return
    with pytest.raises(UsageError) as caught:
        run_report(empty_app, ADMIN, kind, **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_html_accepts_period_and_group_for_every_kind(empty_app, tmp_path):
    out = tmp_path / "expiring.html"
    run_report(empty_app, ADMIN, "expiring", fmt="html", out=str(out), since="2026-01-01", group_by="owner")
    assert "Spend by owner" in out.read_text()


def test_unwritable_out_leaves_nothing(empty_app, tmp_path):
    target = tmp_path / "reports"
    target.mkdir()
    with pytest.raises(UsageError, match="directory .*missing does not exist"):
        run_report(empty_app, ADMIN, "cost", fmt="csv", out=str(target / "missing" / "cost.csv"))
    with pytest.raises(UsageError, match="is a directory"):
        run_report(empty_app, ADMIN, "cost", fmt="csv", out=str(target))
    blocker = target / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="does not exist"):
        run_report(empty_app, ADMIN, "cost", fmt="csv", out=str(blocker / "cost.csv"))
    assert sorted(p.name for p in target.iterdir()) == ["file"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(empty_app, tmp_path, monkeypatch):
    target = tmp_path / "reports"
    target.mkdir()
    out = target / "cost.json"
    out.write_text("previous report")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(UsageError, match="cannot write .*cost.json: No space left on device"):
        run_report(empty_app, ADMIN, "cost", fmt="json", out=str(out))
    assert out.read_text() == "previous report"
    assert [p.name for p in target.iterdir()] == ["cost.json"]


def test_an_existing_file_is_replaced_whole(empty_app, tmp_path):
    out = tmp_path / "cost.csv"
    out.write_text("old\n" * 10000)
    run_report(empty_app, ADMIN, "cost", fmt="csv", out=str(out))
    assert out.read_text().startswith("section,group,")
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---- through the real command ---------------------------------------------------------

def sandbox_cli(db_url: str, tmp_path: Path, *args: str, user: str = ADMIN.email) -> subprocess.CompletedProcess:
    config = tmp_path / "sandbox.toml"
    if not config.exists():
        from sandbox.secrets import generate_key

        config.write_text(f'[database]\nurl = {json.dumps(db_url)}\n[secrets]\nkey = "{generate_key()}"\n'
                          f'[admin]\nusers = ["{ADMIN.email}"]\n[departments.engineering]\naws_ou = "engineering"\n')
    import matplotlib

    env = {"PATH": "/usr/bin:/bin", "SANDBOX_USER": user, "SANDBOX_DEPARTMENT": "engineering",
           "HOME": str(tmp_path), "MPLCONFIGDIR": matplotlib.get_configdir()}  # reuse the built font cache
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), "--config", str(config), "report", *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_cli_prints_writes_and_fails_in_one_line(empty_app, db_url, tmp_path):
    done = sandbox_cli(db_url, tmp_path, "usage", "--format", "json", "--since", "2026-01-01", "--until", "2026-01-05")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["report"] == "usage"

    done = sandbox_cli(db_url, tmp_path, "cost", "--format", "csv")
    assert done.returncode == 0 and done.stdout.splitlines()[0].startswith("section,group,sandboxes,spend_usd")

    written = tmp_path / "written"
    written.mkdir()
    out = written / "cost.html"
    done = sandbox_cli(db_url, tmp_path, "cost", "--format", "html", "--out", str(out))
    assert done.returncode == 0 and done.stdout == "" and done.stderr.strip() == f"wrote {out}"
    assert out.read_text().count("<svg") == 3

    for args, code in [(("costs",), 2), (("cost", "--since", "yesterday"), 2), (("cost", "--group-by", "team"), 2),
                       (("cost", "--since", "2026-02-01", "--until", "2026-01-01"), 2),
                       (("audit", "--format", "html"), 2),
                       (("cost", "--format", "csv", "--out", str(written / "no" / "such" / "dir.csv")), 2),
                       (("cost", "--format", "csv", "--out", str(written)), 2)]:
        failed = sandbox_cli(db_url, tmp_path, *args)
        assert failed.returncode == code, (args, failed.stderr)
        assert failed.stdout == "" and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
        assert failed.stderr.startswith("error: ")

    refused = sandbox_cli(db_url, tmp_path, "cost", user=ALICE.email)
    assert refused.returncode == 3 and refused.stderr.strip() == (
        "error: only managers and admins see reports; a manager sees their own departments' sandboxes")
    assert [p.name for p in written.iterdir()] == ["cost.html"]
