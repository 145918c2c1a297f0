"""Freezes and budgets that hold, through the service and the daemon's jobs, on moto."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlmodel import Session

from sandbox.errors import IllegalTransitionError, SecretKeyError
from sandbox.models import Event, Finding, Milestone, Sandbox
from sandbox.secrets import generate_key
from sandbox.service import extend_sandbox, request_sandbox, set_budget
from sandbox.errors import PermissionDeniedError
from tests.conftest import ADMIN, ALICE
from tests.sweeps.conftest import notice_kinds, rows, run
from tests.sweeps.test_budgets import ce_day, load

JAN1, JAN2, JAN3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
ROLE = "OrganizationAccountAccessRole"


def parent_path(aws, account_id: str) -> str:
    parent = aws.org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
    for path in ("/sandbox/frozen", "/sandbox/active/engineering", "/sandbox/closed"):
        if aws.ou_id(path) == parent:
            return path
    return parent


@pytest.fixture
def over_budget(make_app, clock, aws):
    """An aws-individual sandbox (100 USD, freeze at 100%) that spent 150 USD: frozen."""
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (load(app, sandbox_id).cloud_id, "150.00"))]}])
    run(app, "budgets")
    return app, sandbox_id


def test_a_budget_freeze_outlasts_extend_until_an_admin_raises_the_budget(over_budget, clock, aws):
    app, sandbox_id = over_budget
    frozen = load(app, sandbox_id)
    assert (frozen.state, frozen.frozen_reason) == ("frozen", "budget")

    with pytest.raises(IllegalTransitionError) as refused:
        extend_sandbox(app, ALICE, sandbox_id, "1h")

    assert str(refused.value) == (f"sandbox {sandbox_id} is frozen for budget: spend 150 USD of 100 USD; an admin "
                                  f"can raise it with `sandbox admin budget {sandbox_id} --to 300`")
    assert load(app, sandbox_id).state == "frozen"
    assert parent_path(aws, frozen.cloud_id) == "/sandbox/frozen"
    with pytest.raises(PermissionDeniedError):
        set_budget(app, ALICE, sandbox_id, "1000")  # the owner cannot lift it

    raised = set_budget(app, ADMIN, sandbox_id, "300")

    sandbox = load(app, sandbox_id)
    assert raised["state"] == sandbox.state == "active" and sandbox.frozen_reason is None
    assert sandbox.budget_usd == 300 and sandbox.frozen_at is None
    assert parent_path(aws, sandbox.cloud_id) == "/sandbox/active/engineering"
    assert aws.has_login(sandbox.cloud_id, ALICE.email)
    (change,) = rows(app, Event, Event.sandbox_id == sandbox_id, Event.action == "budget")
    assert (change.actor, change.detail["from_usd"], change.detail["to_usd"]) == (ADMIN.email, "100.0000", "300.0000")
    assert change.detail["rearmed_percents"] == [80, 100]  # 50% of 300 is the 150 spent already
    assert {m.key for m in rows(app, Milestone, Milestone.sandbox_id == sandbox_id)} == {"threshold:50"}

    # Spend grows past the new budget: the 100% threshold, re-armed, freezes it again.
    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (sandbox.cloud_id, "150.00")),
                                                  ce_day(JAN2, (sandbox.cloud_id, "160.00"))]}])
    run(app, "budgets")

    sandbox = load(app, sandbox_id)
    assert (sandbox.state, sandbox.frozen_reason, sandbox.spend_usd) == ("frozen", "budget", 310)
    assert parent_path(aws, sandbox.cloud_id) == "/sandbox/frozen"


def test_every_budget_pass_freezes_an_active_sandbox_past_its_threshold_again(over_budget, clock, aws):
    app, sandbox_id = over_budget
    set_budget(app, ADMIN, sandbox_id, "300")  # active again
    set_budget(app, ADMIN, sandbox_id, "100")  # back down: it stays active, over its budget
    with Session(app.engine) as session:  # and every threshold already fired once, long ago
        session.add_all([Milestone(sandbox_id=sandbox_id, key=f"threshold:{p}", at=clock.now()) for p in (80, 100)])
        session.commit()
    assert load(app, sandbox_id).state == "active"
    notices = notice_kinds(app, sandbox_id)["budget_threshold"]

    clock.advance(timedelta(hours=6))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(JAN1, (load(app, sandbox_id).cloud_id, "150.00"))]}])
    result = run(app, "budgets")  # the same 150 USD as before: its spend did not change

    assert result.due == 1 and load(app, sandbox_id).state == "frozen"
    freezes = rows(app, Event, Event.sandbox_id == sandbox_id, Event.action == "freeze")
    assert [e.detail["reason"] for e in freezes] == ["budget 100%", "budget 100%"]
    assert notice_kinds(app, sandbox_id)["budget_threshold"] == notices  # no threshold notified twice
    assert run(app, "budgets").due == 0  # frozen, every threshold marked: owed nothing


def test_set_budget_refuses_an_amount_that_is_not_one(over_budget):
    app, sandbox_id = over_budget
    for bad in ("lots", "-5", "0", "nan", "1e12"):
        with pytest.raises(Exception) as refused:
            set_budget(app, ADMIN, sandbox_id, bad)
        assert "--to" in str(refused.value), bad
    assert load(app, sandbox_id).budget_usd == 100


def test_extend_with_a_wrong_secrets_key_changes_nothing_in_the_cloud(make_app, clock, aws):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    clock.advance(timedelta(days=8))
    run(app, "expiry")
    frozen = load(app, sandbox_id)
    assert (frozen.state, frozen.frozen_reason) == ("frozen", "expiry")
    other_key = make_app(secrets={"key": generate_key()})

    with pytest.raises(SecretKeyError):
        extend_sandbox(other_key, ALICE, sandbox_id, "1d")

    assert load(app, sandbox_id).state == "frozen"
    assert parent_path(aws, frozen.cloud_id) == "/sandbox/frozen"
    assert not aws.has_login(frozen.cloud_id, ALICE.email)
    assert load(app, sandbox_id).lease_owner is None  # the lease went back too

    extend_sandbox(app, ALICE, sandbox_id, "1d")  # the right key: it works
    assert parent_path(aws, frozen.cloud_id) == "/sandbox/active/engineering"


def test_expiry_freezes_out_a_renamed_user_and_one_the_sandbox_user_made(make_app, clock, aws):
    from sandbox.models import Credential

    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    account_id = load(app, sandbox_id).cloud_id
    secrets = {c.name: app.vault.decrypt(c.ciphertext)
               for c in rows(app, Credential, Credential.sandbox_id == sandbox_id, Credential.member_email == ALICE.email)}
    mine = aws.client("iam", aws_access_key_id=secrets["access_key_id"],
                      aws_secret_access_key=secrets["secret_access_key"])  # Alice, with her own key
    mine.update_user(UserName=ALICE.email, NewUserName="alice-renamed")
    mine.create_user(UserName="backdoor")
    mine.create_access_key(UserName="backdoor")
    mine.create_login_profile(UserName="backdoor", Password="Backdoor-Passw0rd!")

    clock.advance(timedelta(days=8))
    run(app, "expiry")

    assert load(app, sandbox_id).state == "frozen"
    assert parent_path(aws, account_id) == "/sandbox/frozen"
    frozen_ou = aws.ou_id("/sandbox/frozen")
    attached = aws.org.list_policies_for_target(TargetId=frozen_ou, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    [deny_all] = [p for p in attached if p["Name"] == "sandbox-cloud-frozen"]
    [statement] = json.loads(aws.org.describe_policy(PolicyId=deny_all["Id"])["Policy"]["Content"])["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "*")
    iam = aws.member_iam(account_id)
    for user in ("alice-renamed", "backdoor"):
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        assert keys and all(k["Status"] == "Inactive" for k in keys), user
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_login_profile(UserName=user)
    (freeze,) = rows(app, Event, Event.sandbox_id == sandbox_id, Event.action == "freeze")
    assert {"alice-renamed", "backdoor"} <= set(freeze.detail["revoked_users"])


def test_a_deleted_access_role_is_a_tampering_finding_and_the_sandbox_still_ends(make_app, clock, aws):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    account_id = load(app, sandbox_id).cloud_id
    iam = aws.member_iam(account_id)
    for policy in iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=ROLE, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=ROLE)

    clock.advance(timedelta(days=8))
    run(app, "expiry")  # freeze
    clock.advance(timedelta(days=4))
    run(app, "expiry")  # past the grace period: destroy

    sandbox = load(app, sandbox_id)
    assert sandbox.state == "deleted"
    assert aws.account(account_id)["Status"] in ("SUSPENDED", "PENDING_CLOSURE")
    assert parent_path(aws, account_id) == "/sandbox/closed"
    (finding,) = rows(app, Finding, Finding.kind == "tampering")
    assert (finding.sandbox_id, finding.cloud_id) == (sandbox_id, account_id)
    assert ROLE in finding.detail["problem"]
    report = json.loads(_report(app, "compliance"))
    assert report["totals"]["open_tampering"] == 1
    assert [row["category"] for row in report["findings"]].count("tampering") == 1


def test_the_tags_job_finds_a_detached_guardrail_and_bootstrap_puts_it_back(make_app, aws, clock):
    from sandbox.service import bootstrap

    app = make_app()
    request_sandbox(app, ALICE, "aws-individual")
    run(app, "provision")
    policies = {p["Name"]: p["Id"] for p in aws.org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]}
    aws.org.detach_policy(PolicyId=policies["sandbox-cloud-frozen"], TargetId=aws.ou_id("/sandbox/frozen"))

    run(app, "tags")

    (finding,) = rows(app, Finding, Finding.kind == "guardrail")
    assert finding.cloud_id == "/sandbox/frozen" and finding.resolved_at is None
    bootstrap(app, ADMIN)
    run(app, "tags")
    (finding,) = rows(app, Finding, Finding.kind == "guardrail")
    assert (finding.cloud_id, finding.resolved_at) == ("/sandbox/frozen", clock.now())


def _report(app, kind: str) -> str:
    from sandbox.reports import run_report

    return run_report(app, ADMIN, kind, fmt="json", out=None).text
