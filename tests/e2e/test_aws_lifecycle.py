"""An AWS sandbox's life through the service layer, checked in moto and the database."""

import pytest
from sqlmodel import Session, select

from sandbox.errors import NotFoundError, PermissionDeniedError, UsageError
from sandbox.models import Credential, Event, Sandbox
from sandbox.service import (destroy_sandbox, extend_sandbox, get_credentials, list_events,
                             request_sandbox, show_sandbox)
from tests.conftest import ADMIN, ALICE, BOB
from tests.e2e.helpers import account_tags, aws_client, member_iam, ou_path_of


def test_request_provisions_account_user_tags_and_budget(bootstrapped, aws_url):
    app = bootstrapped
    messages = []
    view = request_sandbox(app, ALICE, "aws-individual", ttl="3d", wait=True, progress=messages.append)
    assert view["state"] == "active" and messages
    account = view["cloud_id"]
    assert ou_path_of(aws_url, account) == "/sandbox/active/engineering"
    tags = account_tags(aws_url, account)
    assert tags["sandbox-id"] == view["id"] and tags["sandbox-owner"] == ALICE.email
    assert tags["sandbox-department"] == "engineering" and tags["sandbox-template"] == "aws-individual"
    assert tags["cost-center"] == "sandbox" and tags["sandbox-expires"].startswith("2026-01-04")
    iam = member_iam(aws_url, account)
    assert iam.get_login_profile(UserName=ALICE.email)["LoginProfile"]["UserName"] == ALICE.email
    policies = iam.list_attached_user_policies(UserName=ALICE.email)["AttachedPolicies"]
    assert [p["PolicyName"] for p in policies] == ["AdministratorAccess"]
    keys = iam.list_access_keys(UserName=ALICE.email)["AccessKeyMetadata"]
    creds = get_credentials(app, ALICE, view["id"])
    assert [k["AccessKeyId"] for k in keys] == [creds["access_key_id"]]
    assert creds["console_url"] == f"https://{account}.signin.aws.amazon.com/console"
    assert creds["user_name"] == ALICE.email and len(creds["password"]) >= 16
    budgets = aws_client(aws_url, "budgets").describe_budgets(AccountId="123456789012")["Budgets"]
    assert [b["BudgetName"] for b in budgets] == [f"sandbox-{view['name']}"]
    assert float(budgets[0]["BudgetLimit"]["Amount"]) == 100.0


def test_secrets_are_encrypted_at_rest_and_kept_from_views(bootstrapped, aws_url):
    app = bootstrapped
    view = request_sandbox(app, ALICE, "aws-individual", wait=True)
    password = get_credentials(app, ALICE, view["id"])["password"]
    with Session(app.engine) as session:
        stored = session.exec(select(Credential)).all()
    assert {c.name for c in stored} >= {"password", "secret_access_key"}
    assert all(password not in c.ciphertext for c in stored)
    assert password not in repr(show_sandbox(app, ALICE, view["id"]))


def test_extend_then_destroy_closes_account_and_keeps_history(bootstrapped, aws_url, clock):
    app = bootstrapped
    view = request_sandbox(app, ALICE, "aws-individual", ttl="2d", wait=True)
    with pytest.raises(NotFoundError):  # to a stranger, another's sandbox does not exist
        extend_sandbox(app, BOB, view["id"], "1d")
    with pytest.raises(UsageError, match="more than 30d"):
        extend_sandbox(app, ALICE, view["id"], "40d")
    extended = extend_sandbox(app, ALICE, view["id"], "3d")
    assert extended["expires_at"].startswith("2026-01-06") and extended["extension_count"] == 1
    assert account_tags(aws_url, view["cloud_id"])["sandbox-expires"].startswith("2026-01-06")
    done = destroy_sandbox(app, ALICE, view["id"])
    assert done["state"] == "deleted"
    org = aws_client(aws_url, "organizations")
    assert org.describe_account(AccountId=view["cloud_id"])["Account"]["Status"] == "SUSPENDED"
    assert ou_path_of(aws_url, view["cloud_id"]) == "/sandbox/closed"
    assert member_iam(aws_url, view["cloud_id"]).list_users()["Users"] == []
    actions = [e["action"] for e in list_events(app, ALICE, view["id"])]
    assert actions == ["request", "provision_start", "provisioned", "denied_access", "extend", "destroy",
                       "deleted"]
    with Session(app.engine) as session:
        assert session.exec(select(Credential)).all() == []
        assert session.get(Sandbox, view["id"]).deleted_at == clock.now()


def test_group_sandbox_gives_every_member_a_user(bootstrapped, aws_url):
    from sandbox.service import approve_sandbox, provision_sandbox

    app = bootstrapped
    view = request_sandbox(app, ALICE, "aws-group", members=[BOB.email], wait=True)
    assert view["state"] == "requested"  # approval first, even with --wait
    approve_sandbox(app, ADMIN, view["id"])
    active = provision_sandbox(app, view["id"], actor=ADMIN.email)
    users = {u["UserName"] for u in member_iam(aws_url, active["cloud_id"]).list_users()["Users"]}
    assert users == {ALICE.email, BOB.email}
    assert get_credentials(app, BOB, view["id"])["user_name"] == BOB.email
    with pytest.raises(PermissionDeniedError):
        get_credentials(app, BOB, view["id"], member=ALICE.email)
    assert get_credentials(app, ADMIN, view["id"], member=BOB.email)["user_name"] == BOB.email
    with Session(app.engine) as session:
        viewed = session.exec(select(Event).where(Event.action == "credentials_viewed")).all()
    assert len(viewed) == 2
