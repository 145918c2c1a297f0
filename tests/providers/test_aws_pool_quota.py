"""The pool job checks the organization's account quota before CreateAccount (issue 15), on
moto over HTTP and both databases.

moto's Service Quotas knows no Organizations quota: GetServiceQuota for organizations
L-29A0C5DF answers NoSuchResourceException (no applied value, as in an organization that
never asked for an increase) and the emulator (emulators/aws.py) answers
GetAWSDefaultServiceQuota with AWS's default of 10, so these tests fill moto's
organization (which enforces no limit of its own) to exactly that many accounts. An applied quota, and Service Quotas refusing or throttling, come from
tests.faults.proxies.AwsFaultProxy answering on the wire in front of moto.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import delete
from sqlmodel import Session

from sandbox.errors import ProviderError
from sandbox.models import Event, PoolAccount
from sandbox.providers.aws.organizations import ACCOUNT_QUOTA_CODE, DOCUMENTED_ACCOUNT_LIMIT
from sandbox.service.pool import refill
from tests.sweeps.conftest import make_app, rows, run  # noqa: F401 - make_app is a fixture

POOL = {"min_ready": 1, "max_size": 3, "regions": ["us-east-1"], "cleanup_passes": 1}
QUOTA = {"ServiceCode": "organizations", "ServiceName": "AWS Organizations", "QuotaCode": ACCOUNT_QUOTA_CODE,
         "QuotaArn": f"arn:aws:servicequotas:us-east-1::organizations/{ACCOUNT_QUOTA_CODE}",
         "QuotaName": "Default maximum number of accounts", "Unit": "None", "Adjustable": True,
         "GlobalQuota": True}


@pytest.fixture
def pool_app(make_app):  # noqa: F811 - the fixture imported above
    def factory(endpoint_url: str | None = None, **pool):
        aws = {"pool": {**POOL, **pool}}
        if endpoint_url:
            aws["endpoint_url"] = endpoint_url
        app = make_app(aws=aws)
        with Session(app.engine) as session:
            session.execute(delete(PoolAccount))
            session.commit()
        return app
    return factory


def fill(aws_admin, up_to: int) -> list[str]:
    """Out-of-band accounts until the organization holds `up_to` (the management account included)."""
    made = []
    for i in range(up_to - len(aws_admin.accounts())):
        status = aws_admin.org.create_account(Email=f"filler-{i}@example.com",
                                              AccountName=f"filler-{i}")["CreateAccountStatus"]
        made.append(status["AccountId"])
    assert len(aws_admin.accounts()) == up_to
    return made


def create_requests(aws_admin) -> int:
    pages = aws_admin.org.get_paginator("list_create_account_status").paginate()
    return sum(len(page["CreateAccountStatuses"]) for page in pages)


def refusal(result) -> str:
    [error] = result.errors
    prefix = "aws pool refill: "
    assert error.startswith(prefix), error
    return error[len(prefix):]


def assert_one_line_refusal(message: str, held: int, limit: int) -> None:
    assert "\n" not in message
    assert message.startswith(f"AWS account quota reached: the organization holds {held} accounts"), message
    assert f"may hold {limit} " in message
    assert f"quota organizations {ACCOUNT_QUOTA_CODE} in Service Quotas" in message
    assert "sandbox admin pool retire ID" in message


def test_at_the_limit_the_pool_job_refuses_without_create_account(pool_app, aws_admin, caplog):
    app = pool_app()
    fill(aws_admin, DOCUMENTED_ACCOUNT_LIMIT)
    accounts, requests = len(aws_admin.accounts()), create_requests(aws_admin)

    with caplog.at_level(logging.INFO):
        result = run(app, "pool")

    assert result.due == 1 and result.failed == 1 and result.done == 0
    message = refusal(result)
    assert_one_line_refusal(message, DOCUMENTED_ACCOUNT_LIMIT, DOCUMENTED_ACCOUNT_LIMIT)
    assert "the AWS default of quota" in message  # no applied value: the emulator gives AWS's default
    assert len(aws_admin.accounts()) == accounts and create_requests(aws_admin) == requests  # no CreateAccount
    [row] = rows(app, PoolAccount)
    assert row.state == "creating" and row.cloud_id is None and row.reason == message
    assert not [e for e in rows(app, Event) if e.action == "pool_created"]
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("sandbox")]  # no traceback

    with pytest.raises(ProviderError) as refused:  # the next refill resumes the row, refused again
        refill(app, "aws")
    assert refused.value.code == "ACCOUNT_LIMIT_EXCEEDED" and refused.value.retryable is False
    assert_one_line_refusal(str(refused.value), DOCUMENTED_ACCOUNT_LIMIT, DOCUMENTED_ACCOUNT_LIMIT)
    assert len(aws_admin.accounts()) == accounts and create_requests(aws_admin) == requests
    assert len(rows(app, PoolAccount)) == 1


def test_a_closed_account_still_counts_against_the_limit(pool_app, aws_admin):
    app = pool_app()
    closed = fill(aws_admin, DOCUMENTED_ACCOUNT_LIMIT)[-1]
    aws_admin.org.close_account(AccountId=closed)
    states = {a["Id"]: a["Status"] for a in aws_admin.accounts()}
    assert states[closed] == "SUSPENDED" and list(states.values()).count("ACTIVE") == DOCUMENTED_ACCOUNT_LIMIT - 1
    requests = create_requests(aws_admin)

    result = run(app, "pool")

    assert_one_line_refusal(refusal(result), DOCUMENTED_ACCOUNT_LIMIT, DOCUMENTED_ACCOUNT_LIMIT)
    assert create_requests(aws_admin) == requests and len(aws_admin.accounts()) == DOCUMENTED_ACCOUNT_LIMIT


def test_below_the_limit_it_creates_as_before_up_to_the_limit(pool_app, aws_admin):
    app = pool_app(min_ready=2)
    fill(aws_admin, DOCUMENTED_ACCOUNT_LIMIT - 1)
    requests = create_requests(aws_admin)

    result = run(app, "pool")

    # One account had room: created, moved to cleaning, cleaned to ready. The second was refused.
    assert create_requests(aws_admin) == requests + 1
    assert len(aws_admin.accounts()) == DOCUMENTED_ACCOUNT_LIMIT
    assert_one_line_refusal(refusal(result), DOCUMENTED_ACCOUNT_LIMIT, DOCUMENTED_ACCOUNT_LIMIT)
    by_state = {row.state: row for row in rows(app, PoolAccount)}
    assert set(by_state) == {"ready", "creating"}
    made = by_state["ready"].cloud_id
    assert made and aws_admin.parent_path(made) == "/sandbox/pool/ready"
    assert aws_admin.tags(made)["sandbox-pool"] == "true"
    assert by_state["creating"].cloud_id is None


def test_an_empty_organization_fills_the_pool_as_before(pool_app, aws_admin):
    app = pool_app(min_ready=2)
    before = len(aws_admin.accounts())

    result = run(app, "pool")

    assert result.ok and result.errors == []
    assert len(aws_admin.accounts()) == before + 2
    assert {row.state for row in rows(app, PoolAccount)} == {"ready"}


def test_an_applied_quota_is_the_limit(pool_app, aws_admin, aws_proxy):
    aws_proxy.reply("GetServiceQuota", {"Quota": {**QUOTA, "Value": 3.0}}, count=100)
    app = pool_app(endpoint_url=aws_proxy.url)
    fill(aws_admin, 3)
    requests = create_requests(aws_admin)

    result = run(app, "pool")

    message = refusal(result)
    assert_one_line_refusal(message, 3, 3)
    assert f"(the applied quota {ACCOUNT_QUOTA_CODE})" in message
    assert aws_proxy.seen["GetAWSDefaultServiceQuota"] == 0 and aws_proxy.seen["CreateAccount"] == 0
    assert create_requests(aws_admin) == requests


def test_a_raised_quota_lets_the_pool_grow_past_ten(pool_app, aws_admin, aws_proxy):
    aws_proxy.reply("GetServiceQuota", {"Quota": {**QUOTA, "Value": 20.0}}, count=100)
    app = pool_app(endpoint_url=aws_proxy.url)
    fill(aws_admin, DOCUMENTED_ACCOUNT_LIMIT)

    result = run(app, "pool")

    assert result.ok and aws_proxy.seen["CreateAccount"] == 1
    assert len(aws_admin.accounts()) == DOCUMENTED_ACCOUNT_LIMIT + 1


@pytest.mark.parametrize("applied, default, source", [
    ("NoSuchResourceException", None, "the AWS default of quota"),  # GetAWSDefaultServiceQuota answers
    ("NoSuchResourceException", "NoSuchResourceException", "AWS's documented default"),
])
def test_without_an_applied_quota_the_default_is_the_limit(pool_app, aws_admin, aws_proxy, applied, default,
                                                           source):
    aws_proxy.fail("GetServiceQuota", applied, count=100)
    if default is None:
        aws_proxy.reply("GetAWSDefaultServiceQuota", {"Quota": {**QUOTA, "Value": 4.0}}, count=100)
    else:
        aws_proxy.fail("GetAWSDefaultServiceQuota", default, count=100)
    app = pool_app(endpoint_url=aws_proxy.url)
    limit = 4 if default is None else DOCUMENTED_ACCOUNT_LIMIT
    fill(aws_admin, limit)

    result = run(app, "pool")

    message = refusal(result)
    assert_one_line_refusal(message, limit, limit)
    assert source in message
    assert aws_proxy.seen["CreateAccount"] == 0


@pytest.mark.parametrize("code", ["TooManyRequestsException", "AccessDeniedException"])
def test_an_unreadable_service_quota_leaves_the_quota_to_create_account(pool_app, aws_admin, aws_proxy, code):
    # Denied, the default would understate a raised quota; throttled, it is unknown for now.
    aws_proxy.fail("GetServiceQuota", code, count=100)
    app = pool_app(endpoint_url=aws_proxy.url)
    before = len(aws_admin.accounts())

    result = run(app, "pool")

    assert result.ok and aws_proxy.seen["CreateAccount"] == 1 and aws_proxy.seen["GetAWSDefaultServiceQuota"] == 0
    assert len(aws_admin.accounts()) == before + 1


def test_service_quotas_is_asked_in_us_east_1_whatever_the_region(aws_settings):
    from dataclasses import replace

    from sandbox.providers.aws.calls import AwsClients

    clients = AwsClients(replace(aws_settings, region="eu-west-1"))

    assert clients.service_quotas().meta.region_name == "us-east-1"
    assert clients.service_quotas() is clients.service_quotas()  # cached as the others are
    assert clients.get("organizations").meta.region_name == "eu-west-1"
    assert clients.get("service-quotas", region="eu-west-1").meta.region_name == "eu-west-1"
