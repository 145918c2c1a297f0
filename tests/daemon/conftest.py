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
