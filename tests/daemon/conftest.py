"""Fixtures for the daemon: real local SMTP and HTTP servers, free ports, queued notices."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import ALICE, make_settings

DEAD_URL = "http://127.0.0.1:9"  # nothing listens on the discard port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """aiosmtpd on 127.0.0.1, keeping every message it accepts (optionally with AUTH LOGIN/PLAIN)."""

    def __init__(self, port: int, credentials: tuple[str, str] | None = None):
        self.port = port
        self.credentials = credentials
        self.messages: list[dict] = []
        self.logins: list[str] = []
        self._controller = None

    def start(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        server = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd's naming
                mail = message_from_bytes(envelope.content, policy=policy.default)
                server.messages.append({"from": envelope.mail_from, "rcpt": list(envelope.rcpt_tos),
                                        "subject": mail["Subject"], "mail": mail})
                return "250 OK"

        def authenticator(_server, _session, _envelope, _mechanism, data):
            login, password = data.login.decode(), data.password.decode()
            server.logins.append(login)
            return AuthResult(success=(login, password) == self.credentials, handled=False)

        kwargs = {}
        if self.credentials:  # plain-text AUTH is fine on loopback in a test
            kwargs = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True}
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class WebhookServer:
    """A Slack-like incoming webhook on 127.0.0.1: records JSON bodies, or answers `status`."""

    def __init__(self, port: int = 0):
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.status = 200
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = owner.status
                if status == 200:
                    with owner._lock:
                        owner.requests.append(json.loads(body))
                        owner.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"unavailable")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/services/T000/B000/XXXX") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> "WebhookServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def texts(self) -> list[str]:
        with self._lock:
            return [r["text"] for r in self.requests]


@pytest.fixture
def webhook():
    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def make_app(db_url, clock):
    """build(notify={...}, daemon={...}, worker_id=...) -> App on the test database, no cloud."""
    from sandbox.service import build_app

    apps = []

    def build(aws_url: str = DEAD_URL, gcp_url: str = DEAD_URL, worker_id: str | None = None, **sections):
        settings = make_settings(db_url, aws_url, gcp_url, **sections)
        kwargs = {"worker_id": worker_id} if worker_id else {}
        application = build_app(settings, clock=clock, **kwargs)
        apps.append(application)
        return application

    yield build
    for application in apps:
        application.engine.dispose()


def queue_notices(app, count: int = 1, members: list[str] | None = None, kind: str = "expiry_warning") -> str:
    """A sandbox request, then `count` notices about it with distinct subjects; returns its id."""
    from sandbox.models import Sandbox
    from sandbox.notices import queue_notice
    from sandbox.service import request_sandbox

    template = "aws-group" if members else "aws-individual"
    view = request_sandbox(app, ALICE, template, members=members)
    with app.session() as session:
        sandbox = session.get(Sandbox, view["id"])
        for i in range(count):
            queue_notice(session, sandbox, kind, app.now(), lead=f"{i + 1}h")
    return view["id"]


# ---- sandboxes against moto -------------------------------------------------------------

# The fewest AWS calls per sandbox (no budget, no access keys, no policy): the tests here
# are about who does the work, not about what the work builds.
FAST_TEMPLATE = """
provider = "aws"
description = "Console login only: the cheapest sandbox to provision."
kind = "individual"
default_ttl = "7d"
max_ttl = "30d"
approval_required = false

[aws]
console_login = true
access_keys = false
policies = []
"""


@pytest.fixture
def fast_templates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("templates")
    (folder / "fast.toml").write_text(FAST_TEMPLATE)
    return folder


class CountingProvider:
    """The real provider, with every provision() call counted per sandbox (instrumentation:
    the work still happens in moto). `before` runs ahead of each call (a fault, say)."""

    def __init__(self, inner, calls, before=None):
        self.inner = inner
        self.calls = calls
        self.before = before
        self._lock = threading.Lock()

    def provision(self, plan, steps):
        with self._lock:
            self.calls[plan.sandbox_id] += 1
            number = sum(self.calls.values())
        if self.before is not None:
            self.before(number)
        return self.inner.provision(plan, steps)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def request_many(app, count: int, template: str = "fast") -> list[str]:
    from sandbox.service import request_sandbox

    return [request_sandbox(app, ALICE, template)["id"] for _ in range(count)]


def events_by_sandbox(app, action: str) -> dict[str, int]:
    from collections import Counter

    from sqlmodel import select

    from sandbox.models import Event

    with app.session() as session:
        return Counter(session.exec(select(Event.sandbox_id).where(Event.action == action)).all())


def accounts_by_email(aws_url: str) -> dict[str, int]:
    from collections import Counter

    import boto3

    org = boto3.client("organizations", endpoint_url=aws_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    pages = org.get_paginator("list_accounts").paginate()
    return Counter(a["Email"] for page in pages for a in page["Accounts"])


# ---- the real command ---------------------------------------------------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def write_config(path, db_url: str, aws_url: str = DEAD_URL, gcp_url: str = DEAD_URL, **sections):
    """The test settings (tests.conftest.make_settings) as a sandbox.toml the CLI reads."""
    from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_ORGANIZATION
    from sandbox.secrets import generate_key

    raw = {
        "database": {"url": db_url},
        "secrets": {"key": generate_key()},
        "identity": {"email": ALICE.email, "department": "engineering"},
        "admin": {"users": ["admin@example.com"]},
        "aws": {"endpoint_url": aws_url, "poll_seconds": 0.01, "max_attempts": 2},
        "gcp": {"endpoint": gcp_url, "organization": DEFAULT_ORGANIZATION,
                "billing_account": DEFAULT_BILLING_ACCOUNT, "poll_seconds": 0.01, "max_attempts": 2},
        "departments.engineering": {"aws_ou": "engineering", "gcp_folder": "engineering"},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    # JSON strings, numbers, booleans and lists of them are valid TOML values.
    path.write_text("".join(f"[{section}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
                            for section, values in raw.items()))
    return path


def sandbox_command(*args: str, crash_after: str | None = None) -> list[str]:
    """The real command; `crash_after` a step: SIGKILLed once it is saved (tests/faults/crashing_cli.py)."""
    import sys

    from tests.faults import crashing_cli

    if crash_after:
        return crashing_cli.command(crash_after, *args)
    return [sys.executable, str(ROOT / "cli.py"), *args]


def daemon_command(config, *args: str, crash_after: str | None = None) -> list[str]:
    return sandbox_command("--config", str(config), "daemon", *args, crash_after=crash_after)


def clean_env(**extra: str) -> dict[str, str]:
    """No AWS profile or key of the machine reaches the subprocess; moto takes any key. The
    daemon is an operator command: it runs as the configured admin."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "SANDBOX_USER": "admin@example.com",
           "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
    env.update(extra)
    return env
