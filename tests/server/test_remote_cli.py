"""The CLI in remote mode, end to end: sign in through the browser (a real loopback
redirect from the real OpenID provider), then every engineer command through the API,
with the output of local mode and no database, cloud SDK or key on the engineer's side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import write_config
from tests.server.conftest import USERS

ROOT = Path(__file__).resolve().parents[2]


class RemoteCli:
    def __init__(self, server, folder: Path, user: str):
        email, groups = USERS[user]
        server.provider.set_user(user, email, groups=groups)
        self.folder = folder
        self.env = {"PATH": os.environ["PATH"], "HOME": str(folder), "SANDBOX_SERVER": server.url,
                    "SANDBOX_CONFIG_HOME": str(folder / "config"),
                    "BROWSER": server.provider.browser_script(folder, user)}

    def __call__(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True,
                                env={**self.env, **env}, cwd=self.folder, timeout=120)
        if check:
            assert result.returncode == 0, (args, result.stderr)
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--output", "json").stdout)


def test_remote_cli_end_to_end(api_server, db_url, tmp_path):
    home = tmp_path / "alice"
    home.mkdir()
    # A config of the engineer's own that tries to make them an admin and shadow a template.
    (home / "shadow").mkdir()
    (home / "shadow" / "gcp-individual.toml").write_text('provider = "gcp"\nkind = "individual"\n')
    (home / "sandbox.toml").write_text('[admin]\nusers = ["alice@example.com"]\n[templates]\ndirs = ["shadow"]\n')
    alice = RemoteCli(api_server, home, "alice")

    assert alice("whoami", check=False).returncode == 3  # not signed in yet
    signed_in = alice("login")
    assert "signed in to" in signed_in.stdout and "alice@example.com (user)" in signed_in.stdout
    cache = next((home / "config").rglob("*.json"))
    assert oct(cache.stat().st_mode & 0o777) == "0o600" and "id_token" in cache.read_text()
    assert alice.json("whoami")["roles"] == ["user"]

    view = alice.json("request", "gcp-individual", "--wait", "--name", "demo-run")
    assert view["state"] == "active" and view["owner"] == "alice@example.com"
    assert view["name"] == f"demo-run-{view['id']}"
    local = write_config(tmp_path / "local.toml", db_url)
    local_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SANDBOX_USER": "alice@example.com"}

    def local_json(*args):
        done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--config", str(local), *args, "-o", "json"],
                              capture_output=True, text=True, env=local_env, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert alice.json("list") == local_json("list")
    assert alice.json("show", view["id"][:5]) == local_json("show", view["id"])
    assert alice.json("events", view["id"]) == local_json("events", view["id"])
    piped = alice("list").stdout.splitlines()
    assert piped[0].split("\t")[0] == "id" and piped[1].startswith(view["id"])

    credentials = alice.json("credentials", view["id"])
    assert credentials["project_id"] == view["cloud_id"] and credentials["member"] == "alice@example.com"
    assert alice.json("extend", view["id"], "--by", "1h")["extension_count"] == 1
    # The client's own config changed nothing: the server's templates, no admin rights.
    assert alice.json("templates", "show", "gcp-individual")["description"]
    assert alice.json("templates", "list") == local_json("templates", "list")  # with their limits
    refused = alice("report", "usage", check=False)
    assert refused.returncode == 3 and refused.stderr.startswith("error: only managers and admins see reports")
    assert alice("daemon", "--once", check=False).returncode == 2  # an operator command, not here

    assert alice.json("destroy", view["id"], "--yes")["state"] == "deleted"
    missing = alice("show", "ffffffff", check=False)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: no sandbox with id 'ffffffff'; see: sandbox list --all"

    token = alice.json("token", "create", "ci", "--scope", "read")["token"]
    with_token = alice("list", "-o", "json", SANDBOX_TOKEN=token, SANDBOX_CONFIG_HOME=str(tmp_path / "empty"))
    assert json.loads(with_token.stdout) == []
    assert alice("logout").stdout.startswith("signed out of")
    assert not cache.exists()


def test_admin_reads_reports_remotely(api_server, tmp_path):
    admin = RemoteCli(api_server, tmp_path, "admin")
    admin("login")
    usage = json.loads(admin("report", "usage", "--format", "json").stdout)
    assert "by_group" in usage
    piped = admin("report", "usage").stdout.splitlines()  # the table piped: tab-separated, as in local mode
    assert piped[0].split("\t")[:3] == ["section", "group", "requests"]
    admin("report", "cost", "--format", "html", "--out", str(tmp_path / "cost.html"))
    assert (tmp_path / "cost.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_remote_mode_imports_no_database_or_cloud_library(api_server, tmp_path):
    token = api_server.client("alice").post("/api/v1/tokens", json={"name": "probe"}).json()["token"]
    probe = ("import sys, runpy\n"
             "sys.argv = ['sandbox', 'list']\n"
             "try:\n    runpy.run_path(%r, run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'sqlmodel', 'boto3', 'botocore', 'google', 'httpx', 'fastapi'})\n"
             "print('HEAVY', heavy)\n") % str(ROOT / "cli.py")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SANDBOX_SERVER": api_server.url,
                               "SANDBOX_TOKEN": token})
    assert done.stdout.startswith("id\tname\t") and "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_a_failed_remote_wait_ends_in_the_line_local_mode_gives_and_the_sandbox_can_be_cancelled(
        api_server, gcp_url, tmp_path):
    import urllib.request

    home = tmp_path / "alice"
    home.mkdir()
    alice = RemoteCli(api_server, home, "alice")
    alice("login")
    # The project is made, then enabling its services fails.
    fault = {"method": "POST", "path_regex": r"services:batchEnable$", "status": 503, "status_name": "UNAVAILABLE",
             "count": 1000}
    urllib.request.urlopen(urllib.request.Request(gcp_url + "/emulator/faults", data=json.dumps(fault).encode(),
                                                  method="POST", headers={"Content-Type": "application/json"}))

    failed = alice("request", "gcp-individual", "--wait", check=False)

    assert failed.returncode == 1
    [sandbox] = alice.json("list")
    last = failed.stderr.splitlines()[-1]  # before it, at most the step lines of the wait
    assert last.startswith(f"error: provisioning sandbox {sandbox['id']} failed: GCP ")
    assert last.endswith(f"; {alice.json('show', sandbox['id'])['next_attempt']}")
    assert "attempt 1 of 5 failed; the daemon retries at " in last
    urllib.request.urlopen(urllib.request.Request(gcp_url + "/emulator/faults", method="DELETE"))
    assert alice.json("destroy", sandbox["id"], "--yes")["state"] == "deleted"
    assert alice.json("whoami")["quota"]["used"] == 0
