"""Fixtures for the fault-injection tests.

The clouds are the session's moto and GCP emulator (tests/conftest.py, reset before each
test); the databases are SQLite and PostgreSQL through `db_url`. A Stack is one test's
config: the same settings in process (App) and as a sandbox.toml for the real command in
a subprocess, sharing one secrets key so either side can read what the other stored.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from sandbox.config import Settings, parse_settings
from sandbox.secrets import generate_key
from tests.conftest import ADMIN, ALICE
from tests.daemon.conftest import clean_env, sandbox_command  # the faults tests import clean_env from here

# The cheapest AWS sandbox (one IAM user with a console password; no budget, no key,
# no policy): for tests about who does the work rather than what the work builds.
FAST_AWS_TEMPLATE = """
provider = "aws"
description = "Console login only."
kind = "individual"
default_ttl = "7d"
max_ttl = "30d"
max_extensions = 10
grace_period = "3d"

[aws]
console_login = true
access_keys = false
policies = []
"""


def raw_config(db_url: str, aws_url: str, gcp_url: str, **overrides: dict[str, Any]) -> dict[str, Any]:
    from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_ORGANIZATION

    raw: dict[str, Any] = {
        "database": {"url": db_url},
        "secrets": {"key": generate_key()},
        "identity": {"email": ALICE.email, "department": "engineering"},
        "admin": {"users": [ADMIN.email]},
        "quotas": {"max_live_per_user": 0},
        "aws": {"endpoint_url": aws_url, "poll_seconds": 0.01, "poll_timeout_seconds": 10, "max_attempts": 1,
                "concurrency": 1},
        "gcp": {"endpoint": gcp_url, "organization": DEFAULT_ORGANIZATION,
                "billing_account": DEFAULT_BILLING_ACCOUNT, "poll_seconds": 0.01, "max_attempts": 2,
                "concurrency": 1},
        "daemon": {"retry_backoff": "1m"},
        "departments": {"engineering": {"aws_ou": "engineering", "gcp_folder": "engineering"}},
    }
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return raw


def to_toml(raw: dict[str, Any]) -> str:
    """Enough TOML for our config: tables of scalars and lists, and one level of sub-tables."""
    lines: list[str] = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items() if k not in nested]
        for name, table in nested.items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


class Stack:
    """One test's configuration, as in-process Apps and as the real CLI in a subprocess."""

    def __init__(self, folder: Path, raw: dict[str, Any]):
        self.folder = folder
        self.raw = raw
        self.config = folder / "sandbox.toml"
        self.config.write_text(to_toml(raw))
        self.settings: Settings = parse_settings(copy.deepcopy(raw), str(self.config))
        self._apps: list = []

    def app(self, *, clock=None, worker_id: str | None = None, url: str | None = None):
        """An App (own engine and pool) on this stack's database, or on `url` (a proxy)."""
        from sandbox.db import make_engine
        from sandbox.service import build_app

        kwargs = {"worker_id": worker_id} if worker_id else {}
        engine = make_engine(url) if url else None
        application = build_app(self.settings, clock=clock, engine=engine, **kwargs)
        self._apps.append(application)
        return application

    def with_database(self, url: str) -> "Stack":
        """The same stack (same key) whose config points at another database URL."""
        raw = {**self.raw, "database": {"url": url}}
        other = Stack.__new__(Stack)
        other.folder, other.raw, other._apps = self.folder, raw, self._apps
        other.config = self.folder / f"sandbox-{make_url(url).port}.toml"
        other.config.write_text(to_toml(raw))
        other.settings = parse_settings(copy.deepcopy(raw), str(other.config))
        return other

    def command(self, *args: str, crash_after: str | None = None) -> list[str]:
        return sandbox_command("--config", str(self.config), *args, crash_after=crash_after)

    def cli(self, *args: str, timeout: float = 120, crash_after: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args, crash_after=crash_after), capture_output=True, text=True,
                              timeout=timeout, env=clean_env(), cwd=self.folder)

    def close(self) -> None:
        for application in self._apps:
            application.engine.dispose()


@pytest.fixture
def fast_templates(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("templates")
    (folder / "fast.toml").write_text(FAST_AWS_TEMPLATE)
    return folder


def _stacks(folder: Path, database_url: str, aws_url: str, gcp_url: str, templates: Path):
    """A factory of Stacks on one database and the session's clouds, and their cleanup."""
    stacks: list[Stack] = []

    def build(*, aws_endpoint: str | None = None, **sections: dict[str, Any]) -> Stack:
        sections.setdefault("templates", {"dirs": [str(templates)]})
        stack_folder = folder / f"stack{len(stacks)}"
        stack_folder.mkdir()
        stacks.append(Stack(stack_folder, raw_config(database_url, aws_endpoint or aws_url, gcp_url, **sections)))
        return stacks[-1]

    return build, stacks


@pytest.fixture
def make_stack(tmp_path, db_url, aws_url, gcp_url, fast_templates):
    """make_stack(aws_endpoint=url, **sections) -> Stack on this test's database (SQLite, then PostgreSQL)."""
    build, stacks = _stacks(tmp_path, db_url, aws_url, gcp_url, fast_templates)
    yield build
    for stack in stacks:
        stack.close()


@pytest.fixture
def make_pg_stack(tmp_path, pg_url, aws_url, gcp_url, fast_templates):
    """The same on PostgreSQL only: for what exists only there (a server to lose, many processes)."""
    build, stacks = _stacks(tmp_path, pg_url, aws_url, gcp_url, fast_templates)
    yield build
    for stack in stacks:
        stack.close()


@pytest.fixture
def pg_proxy(pg_url):
    """A TcpProxy in front of this test's PostgreSQL database; .url is the database URL through it."""
    from tests.faults.proxies import TcpProxy

    url = make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield proxy
    proxy.close()


@pytest.fixture
def aws_proxy(aws_url):
    from tests.faults.proxies import AwsFaultProxy

    proxy = AwsFaultProxy(aws_url)
    yield proxy
    proxy.close()


@pytest.fixture(autouse=True)
def _no_machine_aws_credentials(monkeypatch):
    """In-process boto3 sees moto's dummy keys, never the machine's profile."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("SANDBOX_SECRET_KEY", raising=False)
    monkeypatch.delenv("SANDBOX_DEBUG", raising=False)
