"""What a new user meets first (issue 13): a failed `request --wait` and what comes after it,
TTLs that are not what they seem, and a machine with no config at all."""

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from tests.cli.conftest import ROOT, assert_one_line_error

ADMIN = "admin@example.com"


def test_a_failed_wait_says_what_happens_next_and_the_stranded_sandbox_can_be_cancelled(sandbox_cli):
    # Both clouds' endpoints refuse connections, as with the demo's emulators stopped.
    sandbox_cli("db", "upgrade", check=True)
    failed = sandbox_cli("request", "aws-individual", "--wait", subprocess_=True)

    assert failed.returncode == 1 and failed.stdout == ""
    [line] = failed.stderr.splitlines()  # no log lines, no progress header
    [row] = sandbox_cli.json("list")
    assert line.startswith(f"error: provisioning sandbox {row['id']} failed: AWS ")
    due = datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00"))
    due += timedelta(seconds=(60 - due.second) % 60)  # said rounded up: never before it happens
    assert line.endswith(f"attempt 1 of 5 failed; the daemon retries at {due:%H:%M}Z; "
                         f"cancel with: sandbox destroy {row['id']}")
    shown = sandbox_cli.json("show", row["id"])
    assert (shown["state"], shown["attempts"], shown["max_attempts"]) == ("provisioning", 1, 5)
    assert shown["last_error"] in line and shown["next_attempt"] in line
    assert sandbox_cli.json("whoami")["quota"]["used"] == 1

    # Not due yet: the daemon's summary says it is there, waiting, rather than "0/0".
    daemon = sandbox_cli("daemon", "--once", "--job", "provision", user=ADMIN)
    assert daemon.returncode == 0, daemon.stderr
    assert daemon.stdout.startswith("provision: 0/0 done, 1 waiting for a later attempt (next at ")

    cancelled = sandbox_cli.json("destroy", row["id"], "--yes")
    assert cancelled["state"] == "deleted"
    assert sandbox_cli.json("whoami")["quota"]["used"] == 0
    assert [e["action"] for e in sandbox_cli.json("events", row["id"])][-1] == "cancel"


def test_ttl_minutes_months_and_empty(sandbox_cli):
    sandbox_cli("db", "upgrade", check=True)
    assert_one_line_error(sandbox_cli("request", "aws-individual", "--ttl", "1m"),
                          "is shorter than template aws-individual allows (at least 1h; m means minutes")
    assert_one_line_error(sandbox_cli("request", "aws-individual", "--ttl", "30mo"),
                          "months are ambiguous; use days, e.g. 30d")
    empty = sandbox_cli("request", "aws-individual", "--ttl", "")
    assert_one_line_error(empty, "--ttl '' is not a duration")
    assert empty.returncode == 2
    assert sandbox_cli.json("list") == []
    assert "m is minutes" in sandbox_cli("request", "--help").stdout


def run_bare(cwd: Path, *args: str, env: dict | None = None, stdin: str | None = None):
    """`sandbox` with no config anywhere: no --config, no SANDBOX_CONFIG, no ./sandbox.toml."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "XDG_DATA_HOME": str(cwd / "data")}
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, input=stdin, timeout=120)


def test_with_no_config_a_request_says_the_minimum_and_init_writes_a_starter(tmp_path):
    refused = run_bare(tmp_path, "request", "aws-individual")
    assert_one_line_error(refused, "no config file", "who you are and a secrets key", "run sandbox init",
                          "SANDBOX_USER=you@example.com", "SANDBOX_SECRET_KEY")
    assert refused.returncode == 2

    no_email = run_bare(tmp_path, "init", stdin="")
    assert_one_line_error(no_email, "give --email")
    written = run_bare(tmp_path, "init", "--email", "Alice@Example.com", "--department", "engineering", "--yes")
    assert written.returncode == 0, written.stderr
    config, key = tmp_path / "sandbox.toml", tmp_path / "sandbox.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and len(key.read_text().strip()) == 44
    text = config.read_text()
    assert 'email = "alice@example.com"' in text and f'key_file = "{key}"' in text and text.startswith("# ")

    again = run_bare(tmp_path, "init", "--email", "bob@example.com", "--yes")
    assert_one_line_error(again, "exists; sandbox init never overwrites a config")
    assert again.returncode == 1 and 'email = "alice@example.com"' in config.read_text()

    assert run_bare(tmp_path, "db", "upgrade").returncode == 0
    queued = run_bare(tmp_path, "request", "aws-individual", "-o", "json")
    assert queued.returncode == 0, queued.stderr
    view = json.loads(queued.stdout)
    assert (view["owner"], view["department"], view["state"]) == ("alice@example.com", "engineering", "requested")
    me = json.loads(run_bare(tmp_path, "whoami", "-o", "json").stdout)
    assert me["roles"] == ["user", "admin"]


def test_init_keeps_an_existing_key_and_refuses_a_bad_department(tmp_path):
    key = tmp_path / "sandbox.key"
    key.write_text("kept\n")
    assert_one_line_error(run_bare(tmp_path, "init", "--email", "a@example.com", "--department", "no/slash",
                                   "--yes"), "department 'no/slash' must be")
    assert not (tmp_path / "sandbox.toml").exists()
    done = run_bare(tmp_path, "init", "--email", "a@example.com", "--yes", "--cloud", "gcp")
    assert done.returncode == 0, done.stderr
    assert key.read_text() == "kept\n" and "the key in" in done.stdout
    text = (tmp_path / "sandbox.toml").read_text()
    assert "[gcp]" in text and "[aws]" not in text


def test_a_config_without_an_identity_says_which_setting(sandbox_cli, tmp_path):
    config = tmp_path / "noident.toml"
    config.write_text(sandbox_cli.config.read_text().replace('email = "alice@example.com"\n', ""))
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--config", str(config), "request",
                             "aws-individual"], capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "USER": "root"}, cwd=tmp_path)
    assert_one_line_error(result, "is not an e-mail address like alice@example.com",
                          f"set [identity] email in {config}, or SANDBOX_USER")
