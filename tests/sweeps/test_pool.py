"""The AWS account pool end to end on moto and both databases: the pool job creates and
cleans accounts into ready; a sandbox leases one instead of creating an account; its
teardown returns it to cleaning; failing cleans quarantine it.

provision_sandbox calls sandbox.service.pool.lease_for_provision before the provider's
provision, and finish_destroy calls return_for_destroy instead of the provider's destroy
(sandbox/service/provisioning.py, sandbox/service/changes.py). `provision_from_pool` runs
the hook once itself, to return what it leased, before provision_sandbox (whose own call
then finds the lease saved in the steps); `return_to_pool` runs the hook as finish_destroy
does, without recording the sandbox deleted. Crashes along the way: test_pool_crash.py.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import boto3
import pytest
from sqlalchemy import delete
from sqlmodel import Session, select

from sandbox.provider import Placement
from sandbox.reports import run_report

from sandbox.lifecycle import DELETING, transition
from sandbox.models import Event, Finding, Member, Notification, PoolAccount, Sandbox
from sandbox.service import provision_sandbox, request_sandbox
from sandbox.service.plans import build_plan
from sandbox.service.pool import (clean_now, lease_account, lease_for_provision, pool_status, register_account,
                                  release_account, retire_account, return_for_destroy)
from sandbox.service.steps import DbStepStore, claim, release
from tests.conftest import ADMIN, ALICE
from tests.sweeps.conftest import rows, run

# One clean pass to ready keeps these fast; the first test runs the default two.
POOL = {"min_ready": 1, "max_size": 3, "regions": ["us-east-1"], "cleanup_passes": 1}


@pytest.fixture
def pool_app(make_app):
    def factory(**pool):
        app = make_app(aws={"pool": {**POOL, **pool}})
        with Session(app.engine) as session:  # tests/conftest.py truncates only the older tables
            session.execute(delete(PoolAccount))
            session.commit()
        return app
    return factory


def member(aws, account_id: str, service: str):
    creds = aws.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="user")["Credentials"]
    return boto3.client(service, endpoint_url=aws.url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def usage_pool(app) -> list[dict]:
    """The usage report's pool rows, as an admin reads them in JSON."""
    return json.loads(run_report(app, ADMIN, "usage", fmt="json").text)["pool"]


def parent_path(aws, account_id: str) -> str:
    parent = aws.org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
    names = []
    while not parent.startswith("r-"):
        names.append(aws.org.describe_organizational_unit(OrganizationalUnitId=parent)["OrganizationalUnit"]["Name"])
        parent = aws.org.list_parents(ChildId=parent)["Parents"][0]["Id"]
    return "/" + "/".join(reversed(names))


def account_count(aws) -> int:
    return sum(len(page["Accounts"]) for page in aws.org.get_paginator("list_accounts").paginate())


def pool_rows(app) -> dict[str, PoolAccount]:
    return {row.cloud_id: row for row in rows(app, PoolAccount)}


def _plan_and_steps(app, sandbox_id, lease):
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        members = list(session.exec(select(Member).where(Member.sandbox_id == sandbox_id)).all())
        plan = build_plan(sandbox, members)
    return sandbox, plan, DbStepStore(app, sandbox_id, lease=lease)


def provision_from_pool(app, sandbox_id):
    """What provision_sandbox does with the pool hook: lease (or not), then provision."""
    lease = claim(app, sandbox_id)
    try:
        _sandbox, plan, steps = _plan_and_steps(app, sandbox_id, lease)
        leased = lease_for_provision(app, "aws", plan, steps)
    finally:
        release(app, lease)
    return leased, provision_sandbox(app, sandbox_id, actor="test")


def return_to_pool(app, sandbox_id):
    """What finish_destroy does with the pool hook, for a sandbox in deleting."""
    with app.session() as session:
        transition(session, session.get_one(Sandbox, sandbox_id), DELETING, actor="test", action="destroy",
                   at=app.now())
    lease = claim(app, sandbox_id)
    try:
        sandbox, plan, steps = _plan_and_steps(app, sandbox_id, lease)
        return return_for_destroy(app, "aws", Placement(sandbox.cloud_id, sandbox.location), plan, steps)
    finally:
        release(app, lease)


def test_the_pool_job_creates_cleans_and_readies_min_ready_accounts(pool_app, aws):
    app = pool_app(min_ready=2, cleanup_passes=2)
    before = account_count(aws)

    result = run(app, "pool")

    assert result.ok and result.done == 4  # two made, two readied
    accounts = pool_rows(app)
    assert len(accounts) == 2 and {row.state for row in accounts.values()} == {"ready"}
    assert account_count(aws) == before + 2
    for account_id, row in accounts.items():
        assert parent_path(aws, account_id) == "/sandbox/pool/ready"
        assert row.passes == 2 and row.failures == 0  # two clean passes in a row
    actions = [e.action for e in rows(app, Event) if e.action.startswith("pool_")]
    assert actions.count("pool_created") == 2 and actions.count("pool_clean_pass") == 4
    assert actions.count("pool_ready") == 2
    # The cleaning and quarantined OUs carry the frozen SCP (bootstrap).
    for path in ("/sandbox/pool/cleaning", "/sandbox/pool/quarantined"):
        ou = aws.ou_id(path)
        names = {p["Name"] for p in aws.org.list_policies_for_target(
            TargetId=ou, Filter="SERVICE_CONTROL_POLICY")["Policies"]}
        assert "sandbox-cloud-frozen" in names

    assert app.provider("aws").check_guardrails() == {}  # the pool OUs' SCPs count as guardrails

    again = run(app, "pool")  # min_ready met: nothing made
    assert again.due == 0 and account_count(aws) == before + 2


def test_a_sandbox_leases_a_ready_account_and_its_teardown_cleans_it_for_the_next(pool_app, aws):
    app = pool_app()
    run(app, "pool")
    [pooled] = pool_rows(app)
    before = account_count(aws)
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]

    leased, view = provision_from_pool(app, sandbox_id)

    assert leased == pooled and view["state"] == "active" and view["cloud_id"] == pooled
    assert account_count(aws) == before  # no CreateAccount on the request path
    assert parent_path(aws, pooled) == "/sandbox/active/engineering"
    assert pool_rows(app)[pooled].state == "leased" and pool_rows(app)[pooled].sandbox_id == sandbox_id
    s3, sqs = member(aws, pooled, "s3"), member(aws, pooled, "sqs")
    s3.create_bucket(Bucket=f"alice-{pooled}")
    s3.put_object(Bucket=f"alice-{pooled}", Key="a.txt", Body=b"x")
    sqs.create_queue(QueueName="alice-jobs")

    detail = return_to_pool(app, sandbox_id)

    assert detail["pool_state"] == "cleaning"
    assert aws.account(pooled)["Status"] == "ACTIVE"  # not closed
    assert parent_path(aws, pooled) == "/sandbox/pool/cleaning"
    assert member(aws, pooled, "iam").list_users()["Users"] == []
    run(app, "pool")
    assert pool_rows(app)[pooled].state == "ready"
    assert s3.list_buckets()["Buckets"] == [] and sqs.list_queues().get("QueueUrls", []) == []
    roles = {r["RoleName"] for r in member(aws, pooled, "iam").list_roles()["Roles"]}
    assert "OrganizationAccountAccessRole" in roles
    moves = [(e.action, e.sandbox_id) for e in rows(app, Event) if e.action in ("pool_leased", "pool_returned")]
    assert moves == [("pool_leased", sandbox_id), ("pool_returned", sandbox_id)]
    [figures] = usage_pool(app)
    assert {k: v for k, v in figures.items() if k != "median_lease_wait_s"} == {
        "provider": "aws", "size": 1, "ready": 1, "leased": 0, "cleaning": 0, "quarantined": 0, "leases": 1,
        "failed_passes": 0}
    assert figures["median_lease_wait_s"] >= 0
    for fmt in ("csv", "tsv"):  # the same figures in the other formats
        assert "median_lease_wait_s" in run_report(app, ADMIN, "usage", fmt=fmt).text


def test_with_none_ready_a_request_creates_an_account(pool_app, aws):
    app = pool_app(min_ready=0)
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    before = account_count(aws)

    leased, view = provision_from_pool(app, sandbox_id)

    assert leased is None and view["state"] == "active"
    assert account_count(aws) == before + 1
    assert rows(app, PoolAccount) == []


def test_two_replicas_never_lease_one_account_twice(pool_app):
    app = pool_app()
    run(app, "pool")
    got: dict[str, str | None] = {}
    barrier = threading.Barrier(4)

    def lease(sandbox_id):
        barrier.wait()
        got[sandbox_id] = lease_account(app, "aws", sandbox_id)

    threads = [threading.Thread(target=lease, args=(f"sbx{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = {s: a for s, a in got.items() if a}
    assert len(winners) == 1
    [(winner, account)] = winners.items()
    assert lease_account(app, "aws", winner) == account  # a retried lease finds its own again
    assert lease_account(app, "aws", "another") is None


def test_failing_cleans_quarantine_the_account_notify_admins_and_open_a_finding(pool_app, aws):
    app = pool_app(quarantine_after=3)
    run(app, "pool")
    [pooled] = pool_rows(app)
    with app.session() as session:  # back to cleaning, with something the cleaner cannot delete
        row = session.get(PoolAccount, pool_rows(app)[pooled].id)
        row.state = "cleaning"
        session.add(row)
    member(aws, pooled, "ssm").put_parameter(Name="/keep", Value="1", Type="String",
                                             Tags=[{"Key": "owner", "Value": "alice"}])

    for _ in range(2):  # a failed pass: tried again next run
        result = run(app, "pool")
        assert not result.ok and pool_rows(app)[pooled].state == "cleaning"
    assert run(app, "pool").ok  # the third failure in a row: quarantined, which is the job done

    row = pool_rows(app)[pooled]
    assert row.state == "quarantined" and row.failures == 3
    assert f"arn:aws:ssm:us-east-1:{pooled}:parameter/keep" in row.reason
    assert parent_path(aws, pooled) == "/sandbox/pool/quarantined"
    [finding] = rows(app, Finding, Finding.kind == "quarantined")
    assert finding.cloud_id == pooled and finding.resolved_at is None
    [notice] = rows(app, Notification, Notification.kind == "pool_quarantined")
    assert notice.recipients == ["admin@example.com"] and pooled in notice.subject
    compliance = run_report(app, ADMIN, "compliance", fmt="json").text
    assert '"category": "quarantined"' in compliance and pooled in compliance
    [figures] = usage_pool(app)
    assert (figures["size"], figures["quarantined"], figures["failed_passes"], figures["leases"]) == (1, 1, 3, 0)
    run(app, "notify")
    assert rows(app, Notification, Notification.kind == "pool_quarantined")[0].delivered_at is not None
    status = pool_status(app, ADMIN)
    assert status["counts"]["quarantined"] == 1 and status["quarantined"][0]["cloud_id"] == pooled

    member(aws, pooled, "ssm").delete_parameter(Name="/keep")
    release_account(app, ADMIN, pooled)
    run(app, "pool")
    assert pool_rows(app)[pooled].state == "ready"
    assert rows(app, Finding, Finding.kind == "quarantined")[0].resolved_at is not None


def test_a_registered_account_is_cleaned_before_its_first_lease(pool_app, aws):
    app = pool_app(min_ready=0)
    adopted = aws.org.create_account(Email="old@example.com", AccountName="old")["CreateAccountStatus"]["AccountId"]
    member(aws, adopted, "sqs").create_queue(QueueName="from-before")

    view = register_account(app, ADMIN, "aws", adopted)

    assert view["state"] == "cleaning" and parent_path(aws, adopted) == "/sandbox/pool/cleaning"
    run(app, "pool")
    assert pool_rows(app)[adopted].state == "ready"
    assert member(aws, adopted, "sqs").list_queues().get("QueueUrls", []) == []


def test_a_dry_run_clean_names_what_it_would_delete_and_retire_closes(pool_app, aws):
    app = pool_app()
    run(app, "pool")
    [pooled] = pool_rows(app)
    member(aws, pooled, "sns").create_topic(Name="left-behind")

    view = clean_now(app, ADMIN, pooled, dry_run=True)

    assert view["dry_run"]["deleted"] == [f"arn:aws:sns:us-east-1:{pooled}:left-behind"]
    assert member(aws, pooled, "sns").list_topics()["Topics"] != []
    retired = retire_account(app, ADMIN, pooled)
    assert retired["state"] == "retired" and aws.account(pooled)["Status"] == "SUSPENDED"
    assert parent_path(aws, pooled) == "/sandbox/closed"


def test_a_cleaning_account_a_dead_worker_held_waits_for_its_lease_then_is_cleaned(pool_app, clock):
    app = pool_app()
    run(app, "pool")
    [pooled] = pool_rows(app)
    with app.session() as session:  # a replica died while cleaning it
        row = session.get(PoolAccount, pool_rows(app)[pooled].id)
        row.state, row.lease_owner, row.lease_until = "cleaning", "dead-host:1:abcd", clock.now() + timedelta(minutes=15)
        session.add(row)

    run(app, "pool")
    assert pool_rows(app)[pooled].state == "cleaning"  # not a second worker on it

    clock.advance(timedelta(minutes=16))
    run(app, "pool")
    row = pool_rows(app)[pooled]
    assert row.state == "ready" and row.lease_owner is None


def test_the_daemons_metrics_show_the_pool_as_the_database_holds_it(pool_app):
    from prometheus_client.parser import text_string_to_metric_families

    from sandbox.daemon import Daemon

    def samples(daemon) -> dict[tuple[str, str], float]:
        return {(s.name, s.labels.get("state", "")): s.value
                for family in text_string_to_metric_families(daemon.metrics.render().decode())
                for s in family.samples if s.name.startswith("sandbox_pool_") and s.labels["provider"] == "aws"}

    app = pool_app()
    daemon = Daemon(app)
    daemon.run_once(["pool"])
    first = samples(daemon)
    assert first[("sandbox_pool_accounts", "ready")] == 1 and first[("sandbox_pool_size", "")] == 1
    assert first[("sandbox_pool_leases_last_day", "")] == 0
    assert ("sandbox_pool_lease_wait_seconds_last_day", "") not in first  # no lease yet: no figure

    provision_sandbox(app, request_sandbox(app, ALICE, "aws-individual")["id"], actor="test")
    daemon.run_once(["pool"])  # refills to min_ready beside the leased one

    after = samples(daemon)
    states = {state: sum(1 for r in rows(app, PoolAccount) if r.state == state) for state in ("ready", "leased")}
    assert states == {"ready": 1, "leased": 1}
    assert {s: after[("sandbox_pool_accounts", s)] for s in states} == states
    assert after[("sandbox_pool_size", "")] == 2 and after[("sandbox_pool_leases_last_day", "")] == 1
    assert after[("sandbox_pool_lease_wait_seconds_last_day", "")] >= 0
    assert after[("sandbox_pool_failed_clean_passes_last_day", "")] == 0
