"""Fixtures for AWS provider tests: the session's moto server over HTTP, with no AWS config
leaking in, and a fault proxy in front of it for the answers moto never gives."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.memory_steps import MemorySteps  # noqa: F401 - re-exported for the tests

from sandbox.providers.aws.settings import AwsSettings


@pytest.fixture(scope="session")
def aws_emulator(_aws_server):
    """The session's moto server (tests/conftest.py), for its extras like queued CE results."""
    return _aws_server[0]


@pytest.fixture
def aws_url(aws_emulator, monkeypatch):
    """A freshly reset moto endpoint; no AWS credentials or config reach boto3."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws_emulator.reset()
    return aws_emulator.url


@pytest.fixture
def aws_proxy(aws_url):
    """tests.faults.proxies.AwsFaultProxy in front of this test's moto: chosen operations get
    an AWS error or a canned answer on the wire, everything else reaches moto."""
    from tests.faults.proxies import AwsFaultProxy

    proxy = AwsFaultProxy(aws_url)
    yield proxy
    proxy.close()


@pytest.fixture
def aws_settings(aws_url) -> AwsSettings:
    return AwsSettings(endpoint_url=aws_url, poll_seconds=0.01, poll_timeout_seconds=5,
                       max_attempts=2, departments={"default": "default"})


class AwsAdmin:
    """boto3 against the emulator, to arrange and inspect the cloud's state in tests."""

    def __init__(self, url: str):
        self.url = url
        self.org = self.client("organizations")
        self.sts = self.client("sts")
        self.budgets = self.client("budgets")

    def client(self, service: str, **keys: str) -> Any:
        keys = keys or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", **keys)

    def management_account(self) -> str:
        return self.sts.get_caller_identity()["Account"]

    def member_iam(self, account_id: str) -> Any:
        creds = self.sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="test")["Credentials"]
        return self.client("iam", aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])

    def ou_tree(self) -> dict[str, str]:
        """Every OU by path, walking from the root."""
        root = self.org.list_roots()["Roots"][0]["Id"]
        tree, todo = {}, [("", root)]
        while todo:
            path, parent = todo.pop()
            pages = self.org.get_paginator("list_organizational_units_for_parent")
            for page in pages.paginate(ParentId=parent):
                for ou in page["OrganizationalUnits"]:
                    tree[f"{path}/{ou['Name']}"] = ou["Id"]
                    todo.append((f"{path}/{ou['Name']}", ou["Id"]))
        return tree

    def parent_path(self, account_id: str) -> str:
        parent = self.org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
        return {v: k for k, v in self.ou_tree().items()}.get(parent, "/")

    def accounts(self) -> list[dict[str, Any]]:
        pages = self.org.get_paginator("list_accounts").paginate()
        return [a for page in pages for a in page["Accounts"]]

    def tags(self, account_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"]
                for t in self.org.list_tags_for_resource(ResourceId=account_id)["Tags"]}


@pytest.fixture
def aws_admin(aws_url) -> AwsAdmin:
    return AwsAdmin(aws_url)
