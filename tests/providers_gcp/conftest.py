"""Fixtures: one GCP emulator per session, reset before each test; a real in-memory
StepStore; a provider pointed at the emulator with fast polling."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_ORGANIZATION, GcpEmulator
from sandbox.providers.gcp.provider import GcpProvider
from sandbox.config import BUILTIN_TEMPLATES
from sandbox.providers.gcp.settings import GcpSettings
from sandbox.provider import Member, Plan
from sandbox.templates import load_template_file
from tests.memory_steps import MemorySteps  # noqa: F401 - re-exported for the tests

OWNER = Member("alice.smith@example.com", "owner")
MEMBER = Member("bob@example.com", "member")


class Control:
    """The emulator's control plane, over HTTP."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def state(self) -> dict[str, Any]:
        return self._request("GET", "/emulator/state")

    def fault(self, **spec: Any) -> None:
        self._request("POST", "/emulator/faults", spec)

    def config(self, **settings: Any) -> None:
        self._request("POST", "/emulator/config", settings)

    def purge_deleted(self) -> None:
        self._request("POST", "/emulator/purge-deleted", {})

    def faults(self) -> list[dict[str, Any]]:
        return self._request("GET", "/emulator/faults")["faults"]

    def project(self, project_id: str) -> dict[str, Any]:
        return next(p for p in self.state()["projects"] if p["projectId"] == project_id)

    def folder_named(self, path: str) -> str:
        """folders/N of a display-name path from the organization."""
        folders = self.state()["folders"]
        parent = DEFAULT_ORGANIZATION
        for part in path.strip("/").split("/"):
            parent = next(f["name"] for f in folders
                          if f["parent"] == parent and f["displayName"] == part
                          and f["state"] == "ACTIVE")
        return parent

    def bindings(self, project_id: str) -> dict[str, set[str]]:
        policy = self.state()["iam_policies"][project_id]
        return {b["role"]: set(b["members"]) for b in policy.get("bindings", [])}


@pytest.fixture(scope="session")
def gcp_session():
    emulator = GcpEmulator(host="127.0.0.1", port=0, polls_before_done=1)
    url = emulator.start()
    yield emulator, url
    emulator.stop()


@pytest.fixture
def control(gcp_session) -> Control:
    emulator, url = gcp_session
    emulator.reset()
    return Control(url)


@pytest.fixture
def gcp_settings(control) -> GcpSettings:
    return GcpSettings(
        endpoint=control.url, organization=DEFAULT_ORGANIZATION,
        billing_account=DEFAULT_BILLING_ACCOUNT, active_folder="sandbox/active",
        frozen_folder="sandbox/frozen", poll_seconds=0.01, poll_timeout_seconds=10,
        max_attempts=4, departments={"default": "default", "eng": "engineering"})


@pytest.fixture
def provider(gcp_settings) -> GcpProvider:
    return GcpProvider(gcp_settings)


@pytest.fixture
def bootstrapped(provider) -> GcpProvider:  # overrides tests/conftest.py's (an App) here
    provider.bootstrap()
    return provider


def template_spec(name: str = "gcp-group") -> tuple[dict[str, Any], dict[str, str]]:
    template = load_template_file(Path(BUILTIN_TEMPLATES) / f"{name}.toml")
    return template.spec, template.tags


def make_plan(name: str = "alice-smith-1a2b3c4d", sandbox_id: str = "sbx-0001",
              location: str = "sandbox/active/default",
              members: tuple[Member, ...] = (OWNER, MEMBER),
              tags: dict[str, str] | None = None, template: str = "gcp-group") -> Plan:
    spec, template_tags = template_spec(template)
    # The keys and formats of sandbox.service.plans.cost_tags.
    all_tags = {**template_tags, "sandbox-id": sandbox_id, "sandbox-owner": OWNER.email,
                "sandbox-department": "default", "sandbox-template": template,
                "sandbox-expires": "2026-12-05T09:00Z", **(tags or {})}
    return Plan(sandbox_id=sandbox_id, name=name, department="default", location=location,
                members=members, tags=all_tags, spec=spec)


@pytest.fixture
def plan() -> Plan:
    return make_plan()
