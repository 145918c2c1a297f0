"""Enforcement that holds against the sandbox's own administrator, on moto over HTTP.

The sandbox user acts with their own access key (the one the grant stored for them), as a
user with AdministratorAccess would. moto stores service control policies but does not
enforce them, so the SCP tests assert on the policies attached and their statements.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sandbox.provider import Member
from sandbox.providers.aws.guardrails import FROZEN_POLICY, GUARDRAIL_POLICY
from sandbox.providers.aws.members import iam_user_name
from sandbox.providers.aws.provider import AwsProvider
from tests.providers.conftest import MemorySteps
from tests.providers.test_aws import ALICE, make_plan

ROLE = "OrganizationAccountAccessRole"


def scps_on(aws_admin, path: str) -> dict[str, dict]:
    """Our policies attached to the OU at `path`: name → document."""
    ou_id = aws_admin.ou_tree()[path]
    attached = aws_admin.org.list_policies_for_target(TargetId=ou_id, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    return {p["Name"]: json.loads(aws_admin.org.describe_policy(PolicyId=p["Id"])["Policy"]["Content"])
            for p in attached if not p.get("AwsManaged")}


def as_sandbox_user(aws_admin, steps: MemorySteps, member: Member, service: str = "iam"):
    """A client signed with the member's own access key: the sandbox's user acting."""
    return aws_admin.client(service, aws_access_key_id=steps.get_secret(member.email, "access_key_id"),
                            aws_secret_access_key=steps.get_secret(member.email, "secret_access_key"))


def active_credentials(iam) -> dict[str, dict]:
    """Every IAM user in the account → its console login and its active keys."""
    found = {}
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        try:
            iam.get_login_profile(UserName=name)
            login = True
        except iam.exceptions.NoSuchEntityException:
            login = False
        keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
                if k["Status"] == "Active"]
        found[name] = {"login": login, "active_keys": keys}
    return found


@pytest.fixture
def bootstrapped(aws_settings) -> AwsProvider:
    provider = AwsProvider(replace(aws_settings, allowed_regions=["eu-west-1", "us-east-1"]))
    provider.bootstrap()
    return provider


@pytest.fixture
def provisioned(bootstrapped):
    plan, steps = make_plan(), MemorySteps()
    return bootstrapped, plan, bootstrapped.provision(plan, steps), steps


# -- service control policies ------------------------------------------------------------

def test_bootstrap_puts_deny_all_on_the_frozen_and_closed_ous_and_guardrails_on_active(bootstrapped, aws_admin):
    root = aws_admin.org.list_roots()["Roots"][0]
    frozen, closed, active = (scps_on(aws_admin, p) for p in ("/sandbox/frozen", "/sandbox/closed", "/sandbox/active"))

    assert {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"} in root["PolicyTypes"]
    assert list(frozen) == list(closed) == [FROZEN_POLICY]
    [deny_all] = frozen[FROZEN_POLICY]["Statement"]
    assert (deny_all["Effect"], deny_all["Action"], deny_all["Resource"]) == ("Deny", "*", "*")
    assert deny_all["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{ROLE}"}}

    assert list(active) == [GUARDRAIL_POLICY]
    statements = {s["Sid"]: s for s in active[GUARDRAIL_POLICY]["Statement"]}
    protect = statements["ProtectAccessRole"]
    assert protect["Resource"] == f"arn:aws:iam::*:role/{ROLE}"
    assert {"iam:DeleteRole", "iam:UpdateAssumeRolePolicy"} <= set(protect["Action"])
    assert statements["StayInOrganization"]["Action"] == "organizations:LeaveOrganization"
    regions = statements["AllowedRegionsOnly"]
    assert regions["Condition"]["StringNotEquals"] == {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}
    assert {"iam:*", "sts:*", "organizations:*"} <= set(regions["NotAction"])  # global services exempt
    assert len(json.dumps(active[GUARDRAIL_POLICY], separators=(",", ":"))) <= 5120


def test_bootstrap_again_changes_nothing_and_a_new_region_list_updates_the_policy(bootstrapped, aws_settings,
                                                                                   aws_admin):
    again = bootstrapped.bootstrap()
    widened = AwsProvider(replace(aws_settings, allowed_regions=["ap-south-1"])).bootstrap()

    assert f"exists policy {GUARDRAIL_POLICY}" in again and f"exists policy {FROZEN_POLICY} on OU /sandbox/frozen" in again
    assert not [line for line in again if line.startswith(("created", "attached", "updated"))]
    assert f"updated policy {GUARDRAIL_POLICY}" in widened
    statements = {s["Sid"]: s for s in scps_on(aws_admin, "/sandbox/active")[GUARDRAIL_POLICY]["Statement"]}
    assert statements["AllowedRegionsOnly"]["Condition"]["StringNotEquals"] == {"aws:RequestedRegion": ["ap-south-1"]}


def test_check_guardrails_names_a_detached_or_edited_policy(bootstrapped, aws_admin):
    assert bootstrapped.check_guardrails() == {}
    policies = {p["Name"]: p["Id"] for p in aws_admin.org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]}

    aws_admin.org.detach_policy(PolicyId=policies[FROZEN_POLICY], TargetId=aws_admin.ou_tree()["/sandbox/frozen"])
    aws_admin.org.update_policy(PolicyId=policies[GUARDRAIL_POLICY],
                                Content=json.dumps({"Version": "2012-10-17", "Statement": []}))
    problems = bootstrapped.check_guardrails()

    assert set(problems) == {"/sandbox/frozen", GUARDRAIL_POLICY}
    assert "not attached" in problems["/sandbox/frozen"] and "sandbox admin bootstrap" in problems[GUARDRAIL_POLICY]
    bootstrapped.bootstrap()
    assert bootstrapped.check_guardrails() == {}


# -- freeze against the sandbox's administrator -------------------------------------------

def test_freeze_revokes_a_renamed_user_and_one_the_user_made(provisioned, aws_admin):
    provider, plan, placement, steps = provisioned
    mine = as_sandbox_user(aws_admin, steps, ALICE)
    mine.update_user(UserName=iam_user_name(ALICE.email), NewUserName="alice-renamed")
    mine.create_user(UserName="backdoor")
    backdoor_key = mine.create_access_key(UserName="backdoor")["AccessKey"]["AccessKeyId"]
    mine.create_login_profile(UserName="backdoor", Password="Backdoor-Passw0rd!")

    said = provider.freeze(placement, plan, steps)

    iam = aws_admin.member_iam(placement.cloud_id)
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/frozen"
    assert list(scps_on(aws_admin, "/sandbox/frozen")) == [FROZEN_POLICY]
    held = active_credentials(iam)
    assert {"alice-renamed", "backdoor"} <= set(held)
    assert held == {name: {"login": False, "active_keys": []} for name in held}
    assert set(said["revoked_users"]) == set(held) and "tampering" not in said
    assert backdoor_key not in str(said)  # the event names users, never keys
    assert steps.get("freeze:moved") == "/sandbox/frozen"


def test_protected_users_keep_their_access_through_a_freeze(aws_settings, aws_admin):
    provider = AwsProvider(replace(aws_settings, protected_users=["break-glass-*"]))
    provider.bootstrap()
    plan, steps = make_plan(), MemorySteps()
    placement = provider.provision(plan, steps)
    iam = aws_admin.member_iam(placement.cloud_id)
    iam.create_user(UserName="break-glass-ops")
    iam.create_access_key(UserName="break-glass-ops")

    provider.freeze(placement, plan, steps)

    held = active_credentials(iam)
    assert len(held["break-glass-ops"]["active_keys"]) == 1
    assert held[iam_user_name(ALICE.email)] == {"login": False, "active_keys": []}


def test_unfreeze_gives_the_members_back_their_own_access_only(provisioned, aws_admin):
    provider, plan, placement, steps = provisioned
    as_sandbox_user(aws_admin, steps, ALICE).create_user(UserName="backdoor")
    iam = aws_admin.member_iam(placement.cloud_id)
    iam.create_login_profile(UserName="backdoor", Password="Backdoor-Passw0rd!")
    password = steps.get_secret(ALICE.email, "password")
    provider.freeze(placement, plan, steps)

    said = provider.unfreeze(placement, plan, steps)

    held = active_credentials(iam)
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/active/default"
    for member in plan.members:
        user = iam_user_name(member.email)
        assert held[user] == {"login": True, "active_keys": [steps.get_secret(member.email, "access_key_id")]}
    assert held["backdoor"] == {"login": False, "active_keys": []}
    assert steps.get_secret(ALICE.email, "password") == password
    assert said["granted"] == [m.email for m in plan.members]
    assert steps.get("freeze:moved") is None and steps.get("freeze:revoked") is None


def test_a_deleted_access_role_does_not_stop_freeze_or_destroy(provisioned, aws_admin):
    provider, plan, placement, steps = provisioned
    mine = as_sandbox_user(aws_admin, steps, ALICE)
    for policy in mine.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]:
        mine.detach_role_policy(RoleName=ROLE, PolicyArn=policy["PolicyArn"])
    mine.delete_role(RoleName=ROLE)

    frozen = provider.freeze(placement, plan, steps)
    closed = provider.destroy(placement, plan, steps)

    assert f"role {ROLE} in account {placement.cloud_id}" in frozen["tampering"]
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/closed"
    assert closed["account_status"] in ("SUSPENDED", "PENDING_CLOSURE", "CLOSED")
    assert "tampering" in closed
    assert steps.get("close_requested") is True


def test_a_changed_trust_policy_is_tampering(provisioned, aws_admin):
    provider, plan, placement, steps = provisioned
    elsewhere = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}]}
    as_sandbox_user(aws_admin, steps, ALICE).update_assume_role_policy(
        RoleName=ROLE, PolicyDocument=json.dumps(elsewhere))

    said = provider.freeze(placement, plan, steps)

    assert "no longer trusts the management account" in said["tampering"]
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/frozen"


# -- one IAM user per member ----------------------------------------------------------------

def test_members_whose_addresses_sanitise_alike_keep_their_own_users_and_passwords(bootstrapped, aws_admin):
    obrien, o_brien = Member("o'brien@example.com", "owner"), Member("o-brien@example.com", "member")
    plan, steps = make_plan(members=(obrien, o_brien)), MemorySteps()

    placement = bootstrapped.provision(plan, steps)

    assert iam_user_name(obrien.email) != iam_user_name(o_brien.email)
    assert iam_user_name(o_brien.email) == "o-brien@example.com"  # an address IAM takes as is stays as is
    iam = aws_admin.member_iam(placement.cloud_id)
    held = active_credentials(iam)
    for member in (obrien, o_brien):
        assert held[iam_user_name(member.email)]["active_keys"] == [steps.get_secret(member.email, "access_key_id")]
    assert steps.get_secret(obrien.email, "password") != steps.get_secret(o_brien.email, "password")
