"""AwsProvider against moto over HTTP, state asserted through boto3. What moto cannot
produce (IN_PROGRESS/FAILED account creation, the close quota, other refusals, throttling)
is injected on the wire by tests.faults.proxies.AwsFaultProxy in front of moto, in each
service's own protocol; the same proxy checks botocore's retries. Nothing is mocked."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.providers.aws.provider import AwsProvider
from sandbox.providers.aws.members import generate_password, iam_user_name
from sandbox.providers.aws.settings import AwsSettings
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
    assert first[1:6] == [f"created OU {path} ({tree[path]})" for path in
                          ("/sandbox", "/sandbox/active", DEPARTMENT_OU, "/sandbox/frozen",
                           "/sandbox/closed")]
    assert first[6:] == ["enabled service control policies", "created policy sandbox-cloud-frozen",
                         "created policy sandbox-cloud-guardrails",
                         "attached policy sandbox-cloud-frozen to OU /sandbox/frozen",
                         "attached policy sandbox-cloud-frozen to OU /sandbox/closed",
                         "attached policy sandbox-cloud-guardrails to OU /sandbox/active"]
    assert second[0].startswith("exists organization")
    assert all(line.startswith("exists") for line in second)
    assert len(second) == len(first)


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
    assert iam_user_name("o'brien@example.com").startswith("o-brien@example.com-")
    for _ in range(50):
        password = generate_password()
        assert len(password) == 24
        assert any(c.isupper() for c in password) and any(c.islower() for c in password)
        assert any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)


# -- moves and tags ----------------------------------------------------------------------

def test_freeze_and_unfreeze_move_the_account(bootstrapped, aws_admin):
    plan, steps = make_plan(), MemorySteps()
    placement = bootstrapped.provision(plan, steps)

    bootstrapped.freeze(placement, plan, steps)
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/frozen"
    bootstrapped.freeze(placement, plan, steps)  # again: no error
    assert aws_admin.parent_path(placement.cloud_id) == "/sandbox/frozen"

    bootstrapped.unfreeze(placement, plan, steps)
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


# -- what moto cannot produce: faults on the wire ------------------------------------------
# moto always creates an account at once, and never throttles or refuses; AwsFaultProxy
# (tests/faults/proxies.py) answers chosen operations as AWS would, in the service's own
# protocol, so the real provider and botocore (its parsing and its retries) run unchanged.

REQUEST_ID = "car-0123456789abcdef0123456789abcdef"


@pytest.fixture
def proxied(aws_settings, aws_proxy) -> AwsProvider:
    """A bootstrapped AwsProvider whose every request goes through aws_proxy to moto.
    max_attempts=1: botocore sends a request it may retry (throttling, 5xx) twice."""
    provider = AwsProvider(replace(aws_settings, endpoint_url=aws_proxy.url, max_attempts=1))
    provider.bootstrap()
    return provider


def member_account(aws_admin, name: str, **tags: str) -> str:
    """A member account made in moto directly (not through the proxy); its id."""
    status = aws_admin.org.create_account(Email=f"aws+{name}@example.com", AccountName=name,
                                          Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return status["CreateAccountStatus"]["AccountId"]


@pytest.mark.parametrize("reason, retryable", [
    ("EMAIL_ALREADY_EXISTS", False),
    ("CONCURRENT_ACCOUNT_MODIFICATION", True),
])
def test_failed_account_creation_is_reported_and_forgotten(reason, retryable, proxied, aws_proxy,
                                                           aws_admin):
    plan, steps = make_plan(), MemorySteps()
    sent, polled = [], []

    def accepted(body):
        sent.append(body)
        return {"CreateAccountStatus": {"Id": REQUEST_ID, "AccountName": body["AccountName"],
                                        "State": "IN_PROGRESS"}}

    def status(state, **extra):
        def answer(body):
            polled.append(body["CreateAccountRequestId"])
            return {"CreateAccountStatus": {"Id": body["CreateAccountRequestId"],
                                            "AccountName": plan.name, "State": state, **extra}}
        return answer

    aws_proxy.reply("CreateAccount", accepted)
    aws_proxy.reply("DescribeCreateAccountStatus", status("IN_PROGRESS"))
    aws_proxy.reply("DescribeCreateAccountStatus", status("FAILED", FailureReason=reason))

    with pytest.raises(ProviderError) as failure:
        proxied.provision(plan, steps)

    assert aws_proxy.pending() == []
    assert sent == [{"Email": "aws+alice-1a2b3c4d@example.com", "AccountName": "alice-1a2b3c4d",
                     "RoleName": "OrganizationAccountAccessRole",
                     "Tags": [{"Key": k, "Value": v} for k, v in plan.tags.items()]}]
    assert polled == [REQUEST_ID, REQUEST_ID]
    assert failure.value.code == reason
    assert failure.value.retryable is retryable
    assert str(failure.value) == f"AWS CreateAccount for alice-1a2b3c4d failed: {reason}"
    assert steps.get("create_request_id") is None  # the next attempt creates anew
    assert steps.get("create_failure") == reason
    assert steps.get("account_id") is None
    # EMAIL_ALREADY_EXISTS: the organization was searched for the e-mail (a retry's own
    # account would be adopted) and holds none; no other reason searches.
    assert aws_proxy.seen["ListAccounts"] == (1 if reason == "EMAIL_ALREADY_EXISTS" else 0)
    assert len(aws_admin.accounts()) == 1  # the management account only


def test_creation_still_in_progress_at_the_deadline_is_retryable_and_kept(aws_settings, aws_proxy,
                                                                          aws_admin):
    provider = AwsProvider(replace(aws_settings, endpoint_url=aws_proxy.url, max_attempts=1,
                                   poll_seconds=0.01, poll_timeout_seconds=0.05))
    provider.bootstrap()
    plan = make_plan()
    # An earlier attempt's CreateAccount, whose request id it saved; AWS is still at it.
    created = aws_admin.org.create_account(Email="aws+alice-1a2b3c4d@example.com",
                                           AccountName=plan.name)["CreateAccountStatus"]
    finished = threading.Event()
    aws_proxy.reply("DescribeCreateAccountStatus", lambda body: None if finished.is_set() else {
        "CreateAccountStatus": {"Id": body["CreateAccountRequestId"], "AccountName": plan.name,
                                "State": "IN_PROGRESS"}}, count=1_000)
    steps = MemorySteps({"create_request_id": created["Id"]})

    with pytest.raises(ProviderError) as failure:
        provider.provision(plan, steps)

    assert failure.value.retryable is True
    assert failure.value.code == "IN_PROGRESS"
    assert str(failure.value) == (f"AWS CreateAccount for alice-1a2b3c4d still IN_PROGRESS after "
                                  f"0.05s (request {created['Id']}); retry later")
    assert steps.get("create_request_id") == created["Id"]
    assert steps.get("account_id") is None
    assert aws_proxy.injected["DescribeCreateAccountStatus"] >= 1
    assert aws_proxy.seen["CreateAccount"] == 0

    # Once AWS is done, the next attempt takes the same request's account: no second one.
    finished.set()
    placement = provider.provision(plan, steps)

    assert placement.cloud_id == created["AccountId"]
    assert aws_proxy.seen["CreateAccount"] == 0
    assert [a["Id"] for a in aws_admin.accounts()
            if a["Email"] == "aws+alice-1a2b3c4d@example.com"] == [created["AccountId"]]


def test_close_quota_raises_close_quota_error(proxied, aws_proxy, aws_admin):
    plan = make_plan()
    account_id = member_account(aws_admin, plan.name)
    root = aws_admin.org.list_roots()["Roots"][0]["Id"]
    aws_admin.org.move_account(AccountId=account_id, SourceParentId=root,
                               DestinationParentId=aws_admin.ou_tree()["/sandbox/closed"])
    aws_proxy.fail("CloseAccount", "ConstraintViolationException",
                   "You have exceeded close account quota for the past 30 days.",
                   Reason="CLOSE_ACCOUNT_QUOTA_EXCEEDED")
    # Resuming a destroy whose users and budget are already gone, the account moved.
    steps = MemorySteps({"members_removed": True, "budget_deleted": True})

    with pytest.raises(CloseQuotaError) as failure:
        proxied.destroy(Placement(account_id), plan, steps)

    assert aws_proxy.pending() == []
    assert aws_proxy.seen["CloseAccount"] == 1  # not retried by botocore
    assert failure.value.retryable is True
    assert failure.value.code == "CLOSE_ACCOUNT_QUOTA_EXCEEDED"
    assert str(failure.value) == (f"AWS CloseAccount for account {account_id} refused: at most 10% "
                                  "of member accounts may close per 30 days; the close is retried later")
    assert steps.get("close_requested") is None
    # What was done is not done again; the account is still open, waiting in /sandbox/closed.
    assert (aws_proxy.seen["AssumeRole"], aws_proxy.seen["DeleteBudget"],
            aws_proxy.seen["MoveAccount"]) == (0, 0, 0)
    assert aws_admin.org.describe_account(AccountId=account_id)["Account"]["Status"] == "ACTIVE"
    assert aws_admin.parent_path(account_id) == "/sandbox/closed"


def test_other_constraint_violations_are_not_retryable(proxied, aws_proxy, aws_admin):
    account_id = member_account(aws_admin, "alice-1a2b3c4d", team="x")
    aws_proxy.fail("TagResource", "ConstraintViolationException", "too many\ntags",
                   Reason="TAG_POLICY_VIOLATION")

    with pytest.raises(ProviderError) as failure:
        proxied.tag(Placement(account_id), {"a": "b"})

    assert not isinstance(failure.value, CloseQuotaError)
    assert (failure.value.retryable, failure.value.code) == (False, "ConstraintViolationException")
    assert str(failure.value) == (f"AWS TagResource for account {account_id} failed: "
                                  "ConstraintViolationException: too many tags")
    assert aws_proxy.seen["TagResource"] == 1  # not retried by botocore
    assert aws_admin.tags(account_id) == {"team": "x"}


def test_throttling_maps_to_a_retryable_error(proxied, aws_proxy, aws_admin):
    account_id = member_account(aws_admin, "alice-1a2b3c4d", team="x")
    # Both of botocore's tries (max_attempts=1: one retry) are throttled.
    aws_proxy.fail("ListTagsForResource", "TooManyRequestsException", "Rate exceeded", count=2)

    with pytest.raises(ProviderError) as failure:
        proxied.read_tags(Placement(account_id))

    assert (failure.value.retryable, failure.value.code) == (True, "TooManyRequestsException")
    assert str(failure.value) == (f"AWS ListTagsForResource for account {account_id} failed: "
                                  "TooManyRequestsException: Rate exceeded")
    assert aws_proxy.seen["ListTagsForResource"] == 2 and aws_proxy.pending() == []
    assert proxied.read_tags(Placement(account_id)) == {"team": "x"}  # once it passes: moto's tags


# -- botocore's own retries, over HTTP ----------------------------------------------------

def test_throttled_calls_are_retried(aws_proxy):
    aws_proxy.fail("DescribeOrganization", "ThrottlingException", "Rate exceeded")
    provider = AwsProvider(AwsSettings(endpoint_url=aws_proxy.url, max_attempts=3))

    lines = provider.bootstrap()

    assert lines[0].startswith("created organization")
    assert aws_proxy.injected["DescribeOrganization"] == 1 and aws_proxy.seen["DescribeOrganization"] >= 2


def test_throttling_beyond_max_attempts_is_a_retryable_error(aws_proxy):
    aws_proxy.fail("DescribeOrganization", "ThrottlingException", "Rate exceeded", count=100)
    # botocore's max_attempts counts retries after the first request.
    provider = AwsProvider(AwsSettings(endpoint_url=aws_proxy.url, max_attempts=1))

    with pytest.raises(ProviderError) as failure:
        provider.bootstrap()

    assert (failure.value.retryable, failure.value.code) == (True, "ThrottlingException")
    assert aws_proxy.seen["DescribeOrganization"] == 2  # the first try and one retry
    assert "AWS DescribeOrganization for the organization failed" in str(failure.value)


def test_unreachable_endpoint_is_retryable(aws_url):
    provider = AwsProvider(AwsSettings(endpoint_url="http://127.0.0.1:9", max_attempts=1))

    with pytest.raises(ProviderError) as failure:
        provider.bootstrap()

    assert failure.value.retryable is True
    assert failure.value.code == "EndpointConnectionError"


def test_error_messages_never_quote_parameter_values():
    from botocore.exceptions import ParamValidationError

    from sandbox.providers.aws.calls import translate

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
