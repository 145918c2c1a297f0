"""A real uvicorn server in front of moto, the GCP emulator and SQLite or PostgreSQL,
behind a real local OpenID provider."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.conftest import ADMIN, make_settings
from tests.oidc import CLIENT_ID, CLIENT_SECRET, oidc_provider  # noqa: F401  (a fixture)

# Who signs in, with the groups the IdP gives them.
USERS = {
    "alice": ("alice@example.com", ["eng"]),
    "bob": ("bob@example.com", ["eng"]),
    "carol": ("carol@example.com", ["fin"]),
    "erin": ("erin@example.com", ["eng", "managers"]),  # manager of engineering
    "frank": ("frank@example.com", ["fin", "managers"]),  # manager of finance
    "admin": ("admin@example.com", ["platform-admins"]),
}


def server_settings(db_url, aws_url, gcp_url, issuer, **overrides):
    sections = {
        "auth": {"issuer": issuer, "client_id": CLIENT_ID, "client_secret": "server-secret",
                 "cli_client_secret": CLIENT_SECRET,
                 "allowed_domains": ["example.com"], "admin_groups": ["platform-admins"],
                 "manager_groups": ["managers"]},
        "departments": {"engineering": {"aws_ou": "engineering", "gcp_folder": "engineering", "groups": ["eng"]},
                        "finance": {"aws_ou": "finance", "gcp_folder": "finance", "groups": ["fin"]}},
        "admin": {"users": []},
    }
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    return make_settings(db_url, aws_url, gcp_url, **sections)


class RunningServer:
    def __init__(self, settings, provider):
        import uvicorn

        from sandbox.server import create_app
        from sandbox.service import bootstrap

        self.settings = settings
        self.provider = provider
        self.asgi = create_app(settings)
        bootstrap(self.asgi.state.sandbox, ADMIN)
        self._server = uvicorn.Server(uvicorn.Config(self.asgi, host="127.0.0.1", port=0, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._tokens: dict[str, str] = {}

    @property
    def app(self):
        return self.asgi.state.sandbox

    def token(self, user: str) -> str:
        if user not in self._tokens:
            email, groups = USERS[user]
            self._tokens[user] = self.provider.id_token(user, email, groups=groups)
        return self._tokens[user]

    def client(self, user: str | None = None, token: str | None = None) -> httpx.Client:
        headers = {}
        if user or token:
            headers["Authorization"] = f"Bearer {token or self.token(user)}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@pytest.fixture
def api_server(db_url, aws_url, gcp_url, oidc_provider):  # noqa: F811
    running = RunningServer(server_settings(db_url, aws_url, gcp_url, oidc_provider.issuer), oidc_provider)
    yield running
    running.stop()


def wait_for_state(client: httpx.Client, sandbox_id: str, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/api/v1/sandboxes/{sandbox_id}").json()
        if view.get("state") == state or time.monotonic() > deadline:
            assert view.get("state") == state, view
            return view
        time.sleep(0.1)
