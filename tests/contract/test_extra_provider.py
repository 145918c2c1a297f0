"""A cloud is one package and a template: tests/toycloud, installed outside the venv, runs
the whole life of a sandbox through the real `sandbox` command and daemon (separate
processes sharing the toy root), with no edit to core and no aws or gcp table."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sandbox.secrets import generate_key
from tests.contract.conftest import TOYCLOUD, ToyView

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "admin@example.com"


class ToyCli:
    """`sandbox --config CONFIG ...` in a subprocess that finds the toy cloud on PYTHONPATH only."""

    def __init__(self, config: Path, site: Path):
        self.config = config
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(config.parent), "PYTHONPATH": str(site),
                    "SANDBOX_USER": ADMIN}

    def __call__(self, *args: str) -> str:
        done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--config", str(self.config), *args],
                              capture_output=True, text=True, env=self.env, cwd=self.config.parent, timeout=120)
        assert done.returncode == 0, f"sandbox {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
        return done.stdout

    def json(self, *args: str):
        return json.loads(self(*args, "-o", "json"))


@pytest.fixture
def toy_root(tmp_path) -> Path:
    return tmp_path / "toy-root"


@pytest.fixture
def toy_cli(tmp_path, toy_root, toycloud_site) -> ToyCli:
    tables = {
        "database": {"url": f"sqlite:///{tmp_path / 'sandbox.db'}"},
        "secrets": {"key": generate_key()},
        "identity": {"email": ADMIN},
        "admin": {"users": [ADMIN]},
        "templates": {"dirs": [str(TOYCLOUD / "templates")]},
        "toy": {"root": str(toy_root)},
        "departments.default": {"toy_location": "default"},
    }
    config = tmp_path / "sandbox.toml"
    # JSON strings and lists of them are TOML values too.
    config.write_text("".join(f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())
                              for name, table in tables.items()))
    cli = ToyCli(config, toycloud_site)
    cli("db", "upgrade")
    return cli


def wait_until(moment: str) -> None:
    """Sleep past a time the command printed (to the second, so up to 1s early): the daemon
    reads the real clock."""
    delay = (datetime.fromisoformat(moment.replace("Z", "+00:00")) - datetime.now(timezone.utc)).total_seconds()
    time.sleep(max(delay, 0) + 1.1)


def test_bootstrap_and_templates_know_only_the_toy_cloud(toy_cli, toy_root):
    lines = toy_cli("admin", "bootstrap").splitlines()

    assert lines and all(line.startswith("toy: ") for line in lines), lines
    assert ToyView(toy_root).locations() == {"active", "active/default", "frozen"}
    assert [(t["name"], t["provider"]) for t in toy_cli.json("templates", "list")] == [("toy-individual", "toy")]


def test_request_credentials_extend_destroy(toy_cli, toy_root):
    toy = ToyView(toy_root)
    toy_cli("admin", "bootstrap")

    requested = toy_cli.json("request", "toy-individual", "--wait")
    cloud_id = requested["cloud_id"]
    assert requested["state"] == "active" and cloud_id
    assert toy.location_of(cloud_id) == "active/default"
    resource = toy.resource(cloud_id)
    assert resource["sandbox_id"] == requested["id"] and resource["state"] == "active"
    assert resource["members"] == {ADMIN: {"role": "admin", "access": True}}  # the template's [toy] owner_role
    assert resource["tags"]["cost-center"] == "toy" and resource["tags"]["sandbox-id"] == requested["id"]

    credentials = toy_cli.json("credentials", requested["id"])
    assert (credentials["resource_id"], credentials["member"], credentials["access"]) == (cloud_id, ADMIN, True)

    extended = toy_cli.json("extend", requested["id"], "--by", "30m")
    assert extended["extension_count"] == 1 and extended["expires_at"] > requested["expires_at"]
    assert toy.resource(cloud_id)["tags"]["sandbox-expires"] == datetime.fromisoformat(
        extended["expires_at"].replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%MZ")

    destroyed = toy_cli.json("destroy", requested["id"], "--yes")
    assert destroyed["state"] == "deleted"
    resource = toy.resource(cloud_id)
    assert resource["state"] == "deleted" and resource["members"][ADMIN]["access"] is False


def test_the_daemon_freezes_an_expired_sandbox_then_deletes_it_after_its_grace(toy_cli, toy_root):
    toy = ToyView(toy_root)
    toy_cli("admin", "bootstrap")
    requested = toy_cli.json("request", "toy-individual", "--ttl", "2s", "--wait")
    cloud_id = requested["cloud_id"]

    wait_until(requested["expires_at"])
    assert "expiry: 1/1 done" in toy_cli("daemon", "--once").splitlines()
    frozen = toy_cli.json("show", requested["id"])
    assert frozen["state"] == "frozen"
    # Where it is now (the freeze's own account), where extend puts it back, and who may act.
    assert (frozen["location"], frozen["home_location"]) == ("frozen", "active/default")
    assert frozen["access_revoked"].startswith(f"until it is extended (sandbox extend {requested['id']} --by 1d)")
    assert toy_cli.json("credentials", requested["id"])["access_revoked"] == frozen["access_revoked"]
    assert toy.location_of(cloud_id) == "frozen"
    assert toy.resource(cloud_id)["members"][ADMIN]["access"] is False

    wait_until(frozen["delete_after"])  # the template's grace_period: 1s
    assert "expiry: 1/1 done" in toy_cli("daemon", "--once").splitlines()

    assert toy_cli.json("show", requested["id"])["state"] == "deleted"
    assert toy.resource(cloud_id)["state"] == "deleted"


def test_the_daemon_ends_a_sandbox_whose_resource_vanished_behind_its_back(toy_cli, toy_root):
    toy = ToyView(toy_root)
    toy_cli("admin", "bootstrap")
    requested = toy_cli.json("request", "toy-individual", "--wait")

    toy.forget(requested["cloud_id"])
    # Every job: the tags sweep, which runs before reconcile, leaves a vanished resource to it
    # instead of failing on it (so the run exits 0).
    lines = toy_cli("daemon", "--once").splitlines()
    assert "reconcile: 1/1 done" in lines and not any("failed" in line for line in lines)

    assert toy_cli.json("show", requested["id"])["state"] == "deleted"
    [closed] = [e for e in toy_cli.json("events", requested["id"]) if e["action"] == "closed_out_of_band"]
    assert closed["detail"]["cloud_state"] == "not_found"  # read_tags failed with a gone code
