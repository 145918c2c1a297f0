"""AwsProvider against moto over HTTP (state asserted through boto3), plus botocore
Stubber for what moto cannot produce (IN_PROGRESS/FAILED account creation, the close
quota) and a throttling proxy for botocore's retries."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from providers.aws import AwsProvider
from providers.aws.members import generate_password, iam_user_name
from sandbox.config import AwsSettings
from sandbox.errors import CloseQuotaError, ProviderError
from sandbox.provider import Member, Placement, Plan, Threshold
from tests.providers.conftest import MemorySteps

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
POWER = "arn:aws:iam::aws:policy/PowerUserAccess"
ALICE = Member("alice@example.com", "owner")
BOB = Member("bob@example.com", "member")
DEPARTMENT_OU = "/sandbox/active/default"


def make_plan(name: str = "alice-1a2b3c4d", members=(ALICE, BOB), **spec) -> Plan:
    return Plan(
        sandbox_id=f"sbx-{name}",
        name=name,
        department="default",
        location=DEPARTMENT_OU,
        members=tuple(members),
        tags={"sandbox-id": f"sbx-{name}", "sandbox-owner": "alice@example.com",
              "sandbox-department": "default", "sandbox-template": "aws-individual",
              "sandbox-expires": "2030-01-31T12:00:00+00:00", "cost-center": "sandbox"},
        budget_usd=Decimal("100"),
        thresholds=(Threshold(50, "notify"), Threshold(100, "freeze")),
        spec={"console_login": True, "access_keys": True, "policies": [ADMIN, POWER], **spec},
    )


@pytest.fixture
def provider(aws_settings) -> AwsProvider:
    return AwsProvider(aws_settings)


@pytest.fixture
def bootstrapped(provider) -> AwsProvider:
    provider.bootstrap()
    return provider


def login_profile_exists(iam, user: str) -> bool:
    try:
        iam.get_login_profile(UserName=user)
        return True
    except iam.exceptions.NoSuchEntityException:
        return False


# -- bootstrap ---------------------------------------------------------------------------

def test_bootstrap_creates_the_ou_tree_once(provider, aws_settings, aws_admin):
    first = provider.bootstrap()
    tree = aws_admin.ou_tree()
    second = AwsProvider(aws_settings).bootstrap()  # a new instance: nothing cached

    assert set(tree) == {"/sandbox", "/sandbox/active", DEPARTMENT_OU,
                         "/sandbox/frozen", "/sandbox/closed"}
    assert aws_admin.ou_tree() == tree
    assert first[0].startswith("created organization")
    assert first[1:] == [f"created OU {path} ({tree[path]})" for path in
                         ("/sandbox", "/sandbox/active", DEPARTMENT_OU, "/sandbox/frozen",
                          "/sandbox/closed")]
    assert second[0].startswith("exists organization")
    assert all(line.startswith("exists") for line in second)
    assert len(second) == 1 + len(tree)


# -- provision ---------------------------------------------------------------------------

def test_provision_builds_account_users_and_budget(bootstrapped, aws_admin):
    plan, steps = make_plan(), MemorySteps()

    placement = bootstrapped.provision(plan, steps)

    account_id = placement.cloud_id
    assert placement == Placement(account_id, DEPARTMENT_OU)
    account = aws_admin.org.describe_account(AccountId=account_id)["Account"]
    assert account["Email"] == "aws+alice-1a2b3c4d@example.com"
    assert account["Name"] == plan.name
    assert aws_admin.parent_path(account_id) == DEPARTMENT_OU
    assert aws_admin.tags(account_id) == plan.tags

    iam = aws_admin.member_iam(account_id)
    users = {u["UserName"] for u in iam.list_users()["Users"]}
    assert users == {"alice@example.com", "bob@example.com"}
    # The users live in the member account, not in the management account.
    assert aws_admin.client("iam").list_users()["Users"] == []
    for member in (ALICE, BOB):
        user = iam_user_name(member.email)
        assert login_profile_exists(iam, user)
        attached = {p["PolicyArn"] for p in
                    iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]}
        assert attached == {ADMIN, POWER}
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [
            (steps.get_secret(member.email, "access_key_id"), "Active")]
        assert len(steps.get_secret(member.email, "secret_access_key")) == 40
        assert steps.get_secret(member.email, "password")
        assert steps.get(f"member:{member.email}") is True
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
        assert tags["sandbox-id"] == plan.sandbox_id

    management = aws_admin.management_account()
    budget = aws_admin.budgets.describe_budget(
        AccountId=management, BudgetName="sandbox-alice-1a2b3c4d")["Budget"]
    assert Decimal(budget["BudgetLimit"]["Amount"]) == Decimal("100")
    assert budget["CostFilters"] == {"LinkedAccount": [account_id]}
    assert (budget["BudgetType"], budget["TimeUnit"]) == ("COST", "MONTHLY")
    notifications = aws_admin.budgets.describe_notifications_for_budget(
        AccountId=management, BudgetName="sandbox-alice-1a2b3c4d")["Notifications"]
    assert sorted(n["Threshold"] for n in notifications) == [50.0, 100.0]
    assert {(n["NotificationType"], n["ComparisonOperator"], n["ThresholdType"])
            for n in notifications} == {("ACTUAL", "GREATER_THAN", "PERCENTAGE")}
    # moto 5.2 does not implement DescribeSubscribersForNotification: subscribers unchecked.

    assert steps.get("account_id") == account_id
    assert steps.get("moved_to") == DEPARTMENT_OU
    assert steps.get("tagged") is True
    assert steps.get("budget") == "sandbox-alice-1a2b3c4d"
    assert any("creating account" in m for m in steps.messages)


def test_provision_twice_changes_nothing(bootstrapped, aws_admin):
    plan, steps = make_plan(), MemorySteps()
    first = bootstrapped.provision(plan, steps)
    secrets = dict(steps.secrets)

    second = bootstrapped.provision(plan, steps)

    assert second == first
    assert len(aws_admin.accounts()) == 2  # the management account and ours
    assert steps.secrets == secrets


def test_resume_with_saved_account_id_creates_no_account(bootstrapped, aws_admin):
    created = bootstrapped.provision(make_plan(), MemorySteps())
    steps = MemorySteps({"account_id": created.cloud_id})

    placement = bootstrapped.provision(make_plan(), steps)

    assert placement.cloud_id == created.cloud_id
    assert len(aws_admin.accounts()) == 2


def test_resume_polls_the_saved_create_request(bootstrapped, aws_admin):
    plan = make_plan()
    # The process died after CreateAccount returned and its request id was saved.
    status = aws_admin.org.create_account(Email="aws+alice-1a2b3c4d@example.com",
                                          AccountName=plan.name)["CreateAccountStatus"]
    steps = MemorySteps({"create_request_id": status["Id"]})

    placement = bootstrapped.provision(plan, steps)

    assert placement.cloud_id == status["AccountId"]
    assert len(aws_admin.accounts()) == 2
    assert aws_admin.parent_path(placement.cloud_id) == DEPARTMENT_OU


def test_resume_finds_the_account_by_email_when_no_request_id_was_saved(bootstrapped, aws_admin):
    plan = make_plan()
    # The process died after CreateAccount, before the request id was saved.
    status = aws_admin.org.create_account(Email="aws+alice-1a2b3c4d@example.com",
                                          AccountName=plan.name)["CreateAccountStatus"]
    steps = MemorySteps({"create_started": "aws+alice-1a2b3c4d@example.com"})

    placement = bootstrapped.provision(plan, steps)

    assert placement.cloud_id == status["AccountId"]
    assert len(aws_admin.accounts()) == 2
    assert steps.get("create_request_id") is None


def test_first_attempt_does_not_list_the_organization(bootstrapped, aws_admin):
    """Only a retry pays for the e-mail search; a first attempt goes straight to CreateAccount."""
    plan = make_plan()
    # An account with the same e-mail made by someone else: a first attempt must not adopt it.
    aws_admin.org.create_account(Email="aws+alice-1a2b3c4d@example.com", AccountName="stranger")
    steps = MemorySteps()

    bootstrapped.provision(plan, steps)

    assert steps.get("create_started") == "aws+alice-1a2b3c4d@example.com"
    assert steps.get("create_request_id")
    assert len(aws_admin.accounts()) == 3


def test_provision_without_an_organization_asks_for_bootstrap(provider, aws_admin):
    with pytest.raises(ProviderError) as failure:
        provider.provision(make_plan(), MemorySteps())

    assert failure.value.retryable is False
    assert failure.value.code == "AWSOrganizationsNotInUseException"
    assert str(failure.value).endswith("; run: sandbox admin bootstrap")


def test_provision_into_a_missing_ou_creates_no_account(provider, aws_admin):
    aws_admin.org.create_organization(FeatureSet="ALL")
    plan, steps = make_plan(), MemorySteps()

    with pytest.raises(ProviderError) as failure:
        provider.provision(plan, steps)

    assert failure.value.retryable is False
    assert str(failure.value) == ("AWS OU /sandbox/active/default does not exist; "
                                  "run: sandbox admin bootstrap")
    assert len(aws_admin.accounts()) == 1  # the management account only
    provider.bootstrap()
    assert aws_admin.parent_path(provider.provision(plan, steps).cloud_id) == DEPARTMENT_OU


# -- members -----------------------------------------------------------------------------

def test_revoke_then_grant_restores_the_same_credentials(bootstrapped, aws_admin):
    plan, steps = make_plan(), MemorySteps()
    placement = bootstrapped.provision(plan, steps)
    iam = aws_admin.member_iam(placement.cloud_id)
    key_id = steps.get_secret(BOB.email, "access_key_id")
    password = steps.get_secret(BOB.email, "password")

    bootstrapped.revoke(placement, plan, BOB)

    assert not login_profile_exists(iam, "bob@example.com")
    keys = iam.list_access_keys(UserName="bob@example.com")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key_id, "Inactive")]
    assert login_profile_exists(iam, "alice@example.com")  # only bob lost access

    bootstrapped.grant(placement, plan, BOB, steps)

    assert login_profile_exists(iam, "bob@example.com")
    keys = iam.list_access_keys(UserName="bob@example.com")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key_id, "Active")]
    assert steps.get_secret(BOB.email, "password") == password


def test_grant_replaces_a_key_whose_secret_was_never_stored(bootstrapped, aws_admin):
    plan = make_plan()
    placement = bootstrapped.provision(plan, MemorySteps())
    iam = aws_admin.member_iam(placement.cloud_id)
    old_key = iam.list_access_keys(UserName="bob@example.com")["AccessKeyMetadata"][0]
    steps = MemorySteps()  # the secrets were lost (a crash right after CreateAccessKey)

    bootstrapped.grant(placement, plan, BOB, steps)

    keys = iam.list_access_keys(UserName="bob@example.com")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [steps.get_secret(BOB.email, "access_key_id")]
    assert keys[0]["AccessKeyId"] != old_key["AccessKeyId"]


def test_access_info_reports_the_stored_credentials(bootstrapped):
    plan, steps = make_plan(), MemorySteps()
    placement = bootstrapped.provision(plan, steps)

    info = bootstrapped.access_info(placement, plan, ALICE, steps)

    assert info == {
        "console_url": f"https://{placement.cloud_id}.signin.aws.amazon.com/console",
        "account_id": placement.cloud_id,
        "user_name": "alice@example.com",
        "password": steps.get_secret(ALICE.email, "password"),
        "password_reset_required": True,
        "access_key_id": steps.get_secret(ALICE.email, "access_key_id"),
        "secret_access_key": steps.get_secret(ALICE.email, "secret_access_key"),
    }


def test_iam_user_names_and_passwords_follow_aws_rules():
    long_email = "a" * 70 + "@example.com"
    assert iam_user_name("Alice+Test@Example.com") == "alice+test@example.com"
    assert len(iam_user_name(long_email)) == 64
    assert iam_user_name(long_email) != iam_user_name("a" * 70 + "@example.org")
    assert iam_user_name("o'brien@example.com") == "o-brien@example.com"
    for _ in range(50):
        password = generate_password()
        assert len(password) == 24
        assert any(c.isupper() for c in password) and any(c.islower() for c in password)
        assert any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)


# -- moves and tags ----------------------------------------------------------------------

def test_freeze_and_unfreeze_move_the_account(bootstrapped, aws_admin):
    plan = make_plan()
    placement = bootstrapped.provision(plan, MemorySteps())

    bootstrapped.freeze(placement, plan)
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/frozen"
    bootstrapped.freeze(placement, plan)  # again: no error
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/frozen"

    bootstrapped.unfreeze(placement, plan)
    assert aws_admin.parent_path(placement.cloud_id) == DEPARTMENT_OU


def test_tag_repairs_drift(bootstrapped, aws_admin):
    plan = make_plan()
    placement = bootstrapped.provision(plan, MemorySteps())
    aws_admin.org.tag_resource(ResourceId=placement.cloud_id,
                               Tags=[{"Key": "sandbox-owner", "Value": "mallory@example.com"}])
    aws_admin.org.untag_resource(ResourceId=placement.cloud_id, TagKeys=["cost-center"])
    assert bootstrapped.read_tags(placement) != bootstrapped.desired_tags(plan.tags)

    bootstrapped.tag(placement, plan.tags)

    assert bootstrapped.read_tags(placement) == bootstrapped.desired_tags(plan.tags)
    assert aws_admin.tags(placement.cloud_id)["sandbox-owner"] == "alice@example.com"


def test_desired_tags_fit_organizations_rules(provider):
    tags = provider.desired_tags({"k" * 200: "v" * 300, "note": "a#b!c d", "when": "2030-01-01T00:00:00+00:00"})

    assert tags == {"k" * 128: "v" * 256, "note": "a_b_c d", "when": "2030-01-01T00:00:00+00:00"}


# -- spend -------------------------------------------------------------------------------

def test_spend_reads_all_accounts_from_two_pages(provider, aws_emulator, aws_admin):
    a1, a2, a3, a4 = "111111111111", "222222222222", "333333333333", "444444444444"
    d1, d2 = date(2030, 3, 14), date(2030, 3, 15)

    def day(when, *groups):
        return {"TimePeriod": {"Start": when.isoformat(), "End": (when + timedelta(days=1)).isoformat()},
                "Total": {}, "Estimated": True,
                "Groups": [{"Keys": [account], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
                           for account, amount in groups]}

    # Cost Explorer pages by groups: the same days may come back on both pages.
    aws_emulator.queue_cost_and_usage(aws_admin.management_account(), [
        {"ResultsByTime": [day(d1, (a1, "12.50"), (a2, "0.0101")), day(d2, (a1, "1.25"))],
         "NextPageToken": "page-2"},
        {"ResultsByTime": [day(d1, (a3, "99.99")), day(d2, (a3, "0.01"), ("999999999999", "5"))]},
    ])
    placements = [Placement(a) for a in (a1, a2, a3, a4)]

    report = provider.spend(placements, d1, d2 + timedelta(days=1))

    assert report.requests == 2
    assert (report.start, report.end) == (d1, date(2030, 3, 16))
    assert report.by_cloud_id == {
        a1: {d1: Decimal("12.50"), d2: Decimal("1.25")},
        a2: {d1: Decimal("0.0101"), d2: Decimal(0)},
        a3: {d1: Decimal("99.99"), d2: Decimal("0.01")},
        a4: {d1: Decimal(0), d2: Decimal(0)},
    }


def test_spend_of_nothing_costs_no_request(provider):
    report = provider.spend([], date(2030, 3, 1), date(2030, 3, 15))

    assert (report.requests, report.by_cloud_id) == (0, {})


# -- destroy and reconcile -----------------------------------------------------------------

def test_destroy_removes_users_budget_and_closes_the_account(bootstrapped, aws_admin):
    plan, steps = make_plan(), MemorySteps()
    placement = bootstrapped.provision(plan, steps)
    iam = aws_admin.member_iam(placement.cloud_id)
    # A user the sandbox made outside the plan's members (tagged with its id) goes too;
    # one it did not make stays.
    iam.create_user(UserName="extra", Tags=[{"Key": "sandbox-id", "Value": plan.sandbox_id}])
    iam.create_user(UserName="someone-else")

    result = bootstrapped.destroy(placement, plan, steps)

    assert result == {"account_id": placement.cloud_id, "account_status": "SUSPENDED"}
    assert {u["UserName"] for u in iam.list_users()["Users"]} == {"someone-else"}
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/closed"
    account = aws_admin.org.describe_account(AccountId=placement.cloud_id)["Account"]
    assert account["Status"] == "SUSPENDED"
    with pytest.raises(ClientError, match="NotFoundException"):
        aws_admin.budgets.describe_budget(AccountId=aws_admin.management_account(),
                                          BudgetName="sandbox-alice-1a2b3c4d")
    assert steps.get("members_removed") is True and steps.get("close_requested") is True

    again = bootstrapped.destroy(placement, plan, MemorySteps())  # idempotent
    assert again["account_status"] == "SUSPENDED"


def test_destroy_of_an_account_that_never_was_succeeds(bootstrapped):
    result = bootstrapped.destroy(Placement(""), make_plan("nobody-00000000"), MemorySteps())

    assert result["account_status"] == "NOT_FOUND"


def test_list_managed_sees_accounts_in_managed_ous(bootstrapped, aws_admin):
    plan = make_plan()
    ours = bootstrapped.provision(plan, MemorySteps())
    tree = aws_admin.ou_tree()
    root = aws_admin.org.list_roots()["Roots"][0]["Id"]
    stray = aws_admin.org.create_account(Email="stray@example.com", AccountName="stray",
                                         Tags=[{"Key": "team", "Value": "x"}])["CreateAccountStatus"]["AccountId"]
    aws_admin.org.move_account(AccountId=stray, SourceParentId=root,
                               DestinationParentId=tree["/sandbox/frozen"])
    aws_admin.org.create_account(Email="outside@example.com", AccountName="outside")  # stays in root
    closed = aws_admin.org.create_account(Email="old@example.com", AccountName="old")["CreateAccountStatus"]["AccountId"]
    aws_admin.org.move_account(AccountId=closed, SourceParentId=root,
                               DestinationParentId=tree["/sandbox/closed"])
    aws_admin.org.close_account(AccountId=closed)

    found = {r.cloud_id: r for r in bootstrapped.list_managed()}

    assert set(found) == {ours.cloud_id, stray, closed}
    assert (found[ours.cloud_id].location, found[ours.cloud_id].state) == (DEPARTMENT_OU, "active")
    assert found[ours.cloud_id].tags == plan.tags
    assert (found[stray].name, found[stray].location, found[stray].tags) == (
        "stray", "/sandbox/frozen", {"team": "x"})
    assert (found[closed].location, found[closed].state) == ("/sandbox/closed", "closed")


def test_credentials_fall_back_to_static_keys_for_a_local_endpoint(aws_settings, aws_admin):
    provider = AwsProvider(aws_settings)

    assert provider.clients.management_account() == aws_admin.management_account()


def test_emulator_holds_only_the_managed_policies_templates_use(aws_admin):
    aws_admin.org.create_organization(FeatureSet="ALL")
    account = aws_admin.org.create_account(Email="x@example.com", AccountName="x")[
        "CreateAccountStatus"]["AccountId"]

    policies = aws_admin.member_iam(account).list_policies(Scope="AWS")["Policies"]

    assert {p["Arn"] for p in policies} == {
        "arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/IAMReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"}


# -- what moto cannot produce: Stubber ---------------------------------------------------

class StubbedClients:
    """client_factory handing out real boto3 clients whose responses a Stubber supplies."""

    def __init__(self):
        self.clients, self.stubbers = {}, {}

    def __call__(self, service, credentials=None):
        if service not in self.clients:
            client = boto3.client(service, region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
            self.clients[service] = client
            self.stubbers[service] = Stubber(client)
            self.stubbers[service].activate()
        return self.clients[service]

    def stub(self, service):
        self(service)
        return self.stubbers[service]


def stubbed_provider(**settings):
    factory = StubbedClients()
    provider = AwsProvider(AwsSettings(poll_seconds=0.001, poll_timeout_seconds=5,
                                       departments={"default": "default"}, **settings),
                           client_factory=factory)
    return provider, factory


def stub_ou_lookup(org, *names):
    """The responses that resolve an OU path: the root, then one listing per component."""
    org.add_response("list_roots", {"Roots": [{"Id": "r-abcd"}]})
    for i, name in enumerate(names):
        org.add_response("list_organizational_units_for_parent",
                         {"OrganizationalUnits": [{"Id": f"ou-abcd-{i:08d}", "Name": name}]})


def create_status(state, **extra):
    return {"CreateAccountStatus": {"Id": "car-0123456789abcdef0123456789abcdef",
                                    "AccountName": "alice-1a2b3c4d", "State": state, **extra}}


@pytest.mark.parametrize("reason, retryable", [
    ("EMAIL_ALREADY_EXISTS", False),
    ("CONCURRENT_ACCOUNT_MODIFICATION", True),
])
def test_failed_account_creation_is_reported_and_forgotten(reason, retryable):
    provider, factory = stubbed_provider()
    org = factory.stub("organizations")
    stub_ou_lookup(org, "sandbox", "active", "default")
    org.add_response("create_account", create_status("IN_PROGRESS"), {
        "Email": "aws+alice-1a2b3c4d@example.com", "AccountName": "alice-1a2b3c4d",
        "RoleName": "OrganizationAccountAccessRole", "Tags": ANY})
    org.add_response("describe_create_account_status", create_status("IN_PROGRESS"))
    org.add_response("describe_create_account_status",
                     create_status("FAILED", FailureReason=reason))
    if reason == "EMAIL_ALREADY_EXISTS":  # not an account of ours (a retry's would be adopted)
        org.add_response("list_accounts", {"Accounts": []})
    steps = MemorySteps()

    with pytest.raises(ProviderError) as failure:
        provider.provision(make_plan(), steps)

    org.assert_no_pending_responses()
    assert failure.value.code == reason
    assert failure.value.retryable is retryable
    assert str(failure.value) == f"AWS CreateAccount for alice-1a2b3c4d failed: {reason}"
    assert steps.get("create_request_id") is None  # the next attempt creates anew
    assert steps.get("create_failure") == reason
    assert steps.get("account_id") is None


def test_creation_still_in_progress_at_the_deadline_is_retryable_and_kept():
    provider, factory = stubbed_provider()
    provider.settings.poll_timeout_seconds = 0.0
    org = factory.stub("organizations")
    stub_ou_lookup(org, "sandbox", "active", "default")
    org.add_response("describe_create_account_status", create_status("IN_PROGRESS"))
    steps = MemorySteps({"create_request_id": "car-0123456789abcdef0123456789abcdef"})

    with pytest.raises(ProviderError) as failure:
        provider.provision(make_plan(), steps)

    assert failure.value.retryable is True
    assert steps.get("create_request_id") == "car-0123456789abcdef0123456789abcdef"


def test_close_quota_raises_close_quota_error():
    provider, factory = stubbed_provider()
    org = factory.stub("organizations")
    account = {"Id": "210987654321", "Name": "alice-1a2b3c4d", "Status": "ACTIVE",
               "Email": "aws+alice-1a2b3c4d@example.com"}
    org.add_response("describe_account", {"Account": account}, {"AccountId": "210987654321"})
    stub_ou_lookup(org, "sandbox", "closed")
    org.add_response("list_parents", {"Parents": [{"Id": "ou-abcd-00000001",
                                                   "Type": "ORGANIZATIONAL_UNIT"}]})
    org.add_client_error("close_account", "ConstraintViolationException",
                         "You have exceeded close account quota for the past 30 days.",
                         modeled_fields={"Reason": "CLOSE_ACCOUNT_QUOTA_EXCEEDED"})
    # Resuming a destroy whose users and budget are already gone.
    steps = MemorySteps({"members_removed": True, "budget_deleted": True})

    with pytest.raises(CloseQuotaError) as failure:
        provider.destroy(Placement("210987654321"), make_plan(), steps)

    org.assert_no_pending_responses()
    assert failure.value.retryable is True
    assert failure.value.code == "CLOSE_ACCOUNT_QUOTA_EXCEEDED"
    assert steps.get("close_requested") is None


def test_other_constraint_violations_are_not_retryable():
    provider, factory = stubbed_provider()
    org = factory.stub("organizations")
    org.add_client_error("tag_resource", "ConstraintViolationException", "too many\ntags",
                         modeled_fields={"Reason": "TAG_POLICY_VIOLATION"})

    with pytest.raises(ProviderError) as failure:
        provider.tag(Placement("210987654321"), {"a": "b"})

    assert not isinstance(failure.value, CloseQuotaError)
    assert (failure.value.retryable, failure.value.code) == (False, "ConstraintViolationException")
    assert str(failure.value) == ("AWS TagResource for account 210987654321 failed: "
                                  "ConstraintViolationException: too many tags")


def test_throttling_maps_to_a_retryable_error():
    # Stubber answers before botocore's retry handler runs, so this checks only the
    # mapping; test_throttled_calls_are_retried checks the retries over HTTP.
    provider, factory = stubbed_provider()
    factory.stub("organizations").add_client_error(
        "list_tags_for_resource", "TooManyRequestsException", "Rate exceeded")

    with pytest.raises(ProviderError) as failure:
        provider.read_tags(Placement("210987654321"))

    assert (failure.value.retryable, failure.value.code) == (True, "TooManyRequestsException")


# -- retries over HTTP: a proxy that throttles the first requests ----------------------------

class ThrottlingProxy:
    """Answers the first `throttle` requests with ThrottlingException, forwards the rest."""

    def __init__(self, upstream: str, throttle: int):
        self.upstream, self.throttle, self.seen = upstream, throttle, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.seen += 1
                if proxy.seen <= proxy.throttle:
                    payload = json.dumps({"__type": "ThrottlingException",
                                          "message": "Rate exceeded"}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(proxy.upstream + self.path, data=body,
                                                 headers=headers, method="POST")
                try:
                    response = urllib.request.urlopen(request)
                except urllib.error.HTTPError as error:  # an AWS error: pass it on
                    response = error
                with response:
                    payload = response.read()
                    self.send_response(response.status)
                    for key, value in response.headers.items():
                        if key.lower() not in ("content-length", "transfer-encoding",
                                               "connection", "server", "date"):
                            self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def throttling_proxy(aws_url):
    proxies = []

    def start(throttle):
        proxies.append(ThrottlingProxy(aws_url, throttle))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


def test_throttled_calls_are_retried(throttling_proxy):
    proxy = throttling_proxy(throttle=1)
    provider = AwsProvider(AwsSettings(endpoint_url=proxy.url, max_attempts=3))

    lines = provider.bootstrap()

    assert lines[0].startswith("created organization")
    assert proxy.seen > 1


def test_throttling_beyond_max_attempts_is_a_retryable_error(throttling_proxy):
    proxy = throttling_proxy(throttle=100)
    # botocore's max_attempts counts retries after the first request.
    provider = AwsProvider(AwsSettings(endpoint_url=proxy.url, max_attempts=1))

    with pytest.raises(ProviderError) as failure:
        provider.bootstrap()

    assert (failure.value.retryable, failure.value.code) == (True, "ThrottlingException")
    assert proxy.seen == 2  # the first try and one retry
    assert "AWS DescribeOrganization for the organization failed" in str(failure.value)


def test_unreachable_endpoint_is_retryable(aws_url):
    provider = AwsProvider(AwsSettings(endpoint_url="http://127.0.0.1:9", max_attempts=1))

    with pytest.raises(ProviderError) as failure:
        provider.bootstrap()

    assert failure.value.retryable is True
    assert failure.value.code == "EndpointConnectionError"


def test_error_messages_never_quote_parameter_values():
    from botocore.exceptions import ParamValidationError

    from providers.aws.calls import translate

    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with pytest.raises(ParamValidationError) as raised:
        client.create_login_profile(UserName="bob", Password=["Secret-Pa55word!"])

    error = translate(raised.value, "CreateLoginProfile", "user bob")

    assert "Secret-Pa55word" not in str(error)
    assert str(error).startswith("AWS CreateLoginProfile for user bob failed: ParamValidationError:")
    assert "\n" not in str(error) and error.retryable is False


def test_an_unknown_profile_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    provider = AwsProvider(AwsSettings(profile="no-such-profile"))

    with pytest.raises(ProviderError) as failure:
        provider.bootstrap()

    assert failure.value.code == "ProfileNotFound"
    assert "profile no-such-profile" in str(failure.value) and failure.value.retryable is False
