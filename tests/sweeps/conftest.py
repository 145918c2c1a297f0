"""Fixtures for the sweeps: the application on both databases with moto and the GCP
emulator behind it, plus plain clients to arrange and inspect what the clouds hold."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from typing import Any

import boto3
import pytest
from sqlmodel import Session, select

from sandbox.models import Notification
from sandbox.jobs import select_jobs
from tests.conftest import ADMIN, make_settings

MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account


def run(app, job: str):
    """One sweep; it must have held its lock (one replica in these tests)."""
    [selected] = select_jobs([job])
    result = selected.load()(app)
    assert not result.skipped, result.summary()
    return result


def rows(app, model, *where):
    with Session(app.engine) as session:
        return list(session.exec(select(model).where(*where)).all())


def notice_kinds(app, sandbox_id: str | None = None) -> Counter:
    where = [] if sandbox_id is None else [Notification.sandbox_id == sandbox_id]
    return Counter(n.kind for n in rows(app, Notification, *where))


class Aws:
    """boto3 against moto, as an administrator would use it out of band."""

    def __init__(self, url: str):
        self.url = url
        self.org = self.client("organizations")

    def client(self, service: str, **keys: str) -> Any:
        keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", **keys)

    def member_iam(self, account_id: str) -> Any:
        creds = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="test")["Credentials"]
        return self.client("iam", aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])

    def has_login(self, account_id: str, email: str) -> bool:
        iam = self.member_iam(account_id)
        try:
            iam.get_login_profile(UserName=email)
            return True
        except iam.exceptions.NoSuchEntityException:
            return False

    def ou_id(self, path: str) -> str:
        parent = self.org.list_roots()["Roots"][0]["Id"]
        for name in path.strip("/").split("/"):
            units = self.org.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]
            parent = next(u["Id"] for u in units if u["Name"] == name)
        return parent

    def tags(self, account_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.org.list_tags_for_resource(ResourceId=account_id)["Tags"]}

    def account(self, account_id: str) -> dict[str, Any]:
        return self.org.describe_account(AccountId=account_id)["Account"]

    def queue_cost_and_usage(self, results: list[dict[str, Any]]) -> None:
        post(self.url + "/moto-api/static/ce/cost-and-usage-results",
             {"account_id": MANAGEMENT_ACCOUNT, "results": results})

    def recorded_targets(self) -> Counter:
        """X-Amz-Target of every request moto recorded since start_recording."""
        with urllib.request.urlopen(self.url + "/moto-api/recorder/download-recording", timeout=10) as resp:
            lines = resp.read().decode().splitlines()
        return Counter(json.loads(line)["headers"].get("X-Amz-Target", "") for line in lines if line)


@pytest.fixture
def moto_recorder(aws, tmp_path, monkeypatch):
    """moto's own request recorder, writing to this test's directory while the test runs."""
    from moto.moto_api import recorder  # the in-process server's recorder

    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto_recording"))
    post(aws.url + "/moto-api/recorder/reset-recording", {})
    post(aws.url + "/moto-api/recorder/start-recording", {})
    yield aws
    post(aws.url + "/moto-api/recorder/stop-recording", {})


class Gcp:
    """The emulator over HTTP: Google's REST paths for out-of-band changes, /emulator/ to look."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def state(self) -> dict[str, Any]:
        return request("GET", self.url + "/emulator/state")

    def project(self, project_id: str) -> dict[str, Any]:
        return next(p for p in self.state()["projects"] if p["projectId"] == project_id)

    def bindings(self, project_id: str) -> dict[str, set[str]]:
        policy = self.state()["iam_policies"][project_id]
        return {b["role"]: set(b["members"]) for b in policy.get("bindings", [])}

    def members(self, project_id: str) -> set[str]:
        return set().union(*self.bindings(project_id).values())

    def folder(self, path: str) -> str:
        """folders/N of a display-name path from the organization."""
        from sandbox.emulators.gcp import DEFAULT_ORGANIZATION

        parent, folders = DEFAULT_ORGANIZATION, self.state()["folders"]
        for part in path.strip("/").split("/"):
            parent = next(f["name"] for f in folders if f["parent"] == parent
                          and f["displayName"] == part and f["state"] == "ACTIVE")
        return parent

    def create_project(self, project_id: str, parent: str) -> None:
        request("POST", f"{self.url}/v3/projects", {"projectId": project_id, "parent": parent,
                                                    "displayName": project_id})

    def purge_deleted(self) -> None:
        request("POST", self.url + "/emulator/purge-deleted", {})

    def set_labels(self, project_id: str, labels: dict[str, str]) -> None:
        request("PATCH", f"{self.url}/v3/projects/{project_id}?updateMask=labels", {"labels": labels})

    def delete_project(self, project_id: str) -> None:
        request("DELETE", f"{self.url}/v3/projects/{project_id}")

    def fault(self, **spec: Any) -> None:
        request("POST", self.url + "/emulator/faults", spec)

    def clear_faults(self) -> None:
        request("DELETE", self.url + "/emulator/faults")


def request(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        raw = response.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError:  # moto-api answers some calls in plain text
        return raw.decode()


def post(url: str, body: Any) -> Any:
    return request("POST", url, body)


@pytest.fixture
def aws(aws_url) -> Aws:
    return Aws(aws_url)


@pytest.fixture
def gcp(gcp_url) -> Gcp:
    return Gcp(gcp_url)


@pytest.fixture
def make_app(db_url, aws_url, gcp_url, clock):
    """An application with [section] overrides, bootstrapped; disposed after the test."""
    from sandbox.service import bootstrap, build_app

    made = []

    def factory(**overrides):
        application = build_app(make_settings(db_url, aws_url, gcp_url, **overrides), clock=clock)
        made.append(application)
        bootstrap(application, ADMIN)
        return application

    yield factory
    for application in made:
        application.engine.dispose()
