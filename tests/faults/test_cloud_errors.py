"""Cloud errors on the wire: retried with backoff where retrying can help, `failed` with the
cloud's own reason where it cannot, `deleting` kept (and retried) for the close quota.

AWS faults come from tests.faults.proxies.AwsFaultProxy in front of moto (real HTTP
answers in each service's protocol, so botocore's own retry mode handles them); GCP
faults from the emulator's fault queue. Provisioning runs through the daemon's sweep,
with a frozen clock so the service-level backoff is visible and nothing sleeps for it.
After each scenario every event's (from_state, to_state) is checked against TRANSITIONS.
"""

from __future__ import annotations

from datetime import timedelta

from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT
from sandbox.clock import FrozenClock
from sandbox.service import bootstrap, destroy_sandbox, request_sandbox, retry_sandbox
from sandbox.sweeps import expire_due, provision_due
from tests.conftest import ADMIN, ALICE
from tests.faults import checks

MINUTE = timedelta(minutes=1)  # [daemon] retry_backoff in the test config


def requested(stack, provider: str, template: str):
    clock = FrozenClock()
    app = stack.app(clock=clock)
    bootstrap(app, ADMIN, [provider])
    return app, clock, request_sandbox(app, ALICE, template)["id"]


# ---- AWS ----------------------------------------------------------------------------------

def test_aws_throttling_bursts_and_500s_are_retried_with_backoff_then_active(make_stack, aws_proxy, aws_url):
    # [aws] max_attempts = 1: botocore's standard mode retries each call once, with jittered backoff.
    app, clock, sandbox_id = requested(make_stack(aws_endpoint=aws_proxy.url), "aws", "aws-individual")
    aws_proxy.fail("CreateAccount", "TooManyRequestsException", "Rate exceeded")
    aws_proxy.fail("MoveAccount", "ServiceException", "We encountered an internal error.", status=500)
    aws_proxy.fail("CreateUser", "Throttling", "Rate exceeded")  # IAM: the query protocol's XML error
    aws_proxy.fail("CreateBudget", "ThrottlingException", "Rate exceeded", count=2)  # longer than botocore retries

    started = clock.now()
    first = provision_due(app)
    waiting = checks.sandbox(app, sandbox_id)
    too_soon = provision_due(app)
    clock.advance(MINUTE)
    second = provision_due(app)

    assert (first.done, first.failed) == (0, 1) and "ThrottlingException" in first.errors[0]
    assert (waiting.state, waiting.attempts) == ("provisioning", 1)
    assert waiting.next_attempt_at == started + MINUTE  # the service's own backoff: retry_backoff * 2**0
    assert waiting.last_error.startswith("AWS CreateBudget for budget sandbox-")
    assert too_soon.due == 0
    assert (second.done, second.failed) == (1, 0)
    final = checks.sandbox(app, sandbox_id)
    assert (final.state, final.last_error) == ("active", None)
    assert aws_proxy.pending() == []
    assert aws_proxy.seen["CreateAccount"] == 2 and aws_proxy.seen["MoveAccount"] == 2
    assert aws_proxy.seen["CreateUser"] == 2 and aws_proxy.seen["CreateBudget"] == 3
    accounts = checks.accounts_with_email(aws_url, f"aws+{final.name}@example.com")
    assert [a["Id"] for a in accounts] == [final.cloud_id]
    assert checks.ou_path(aws_url, final.cloud_id) == "/sandbox/active/engineering"
    assert len(checks.budgets_named(aws_url, f"sandbox-{final.name}")) == 1
    assert checks.actions(app, sandbox_id) == ["request", "provision_start", "provision_retry", "provisioned"]
    checks.assert_lifecycle_legal(app)


def test_aws_access_denied_fails_with_the_clouds_reason_and_an_admin_retry_resumes(
        make_stack, aws_proxy, aws_url):
    app, _clock, sandbox_id = requested(make_stack(aws_endpoint=aws_proxy.url), "aws", "aws-individual")
    aws_proxy.fail("MoveAccount", "AccessDeniedException", "You don't have permissions to access this resource.")

    result = provision_due(app)

    failed = checks.sandbox(app, sandbox_id)
    reason = (f"AWS MoveAccount for account {failed.progress['account_id']} failed: AccessDeniedException: "
              "You don't have permissions to access this resource; check the credentials ([aws] profile) "
              "may manage the organization")
    assert (result.done, result.failed) == (0, 1)
    assert (failed.state, failed.last_error) == ("failed", reason)
    assert aws_proxy.seen["MoveAccount"] == 1  # not retryable: asked once
    [event] = [e for e in checks.events(app, sandbox_id) if e.action == "provision_failed"]
    assert event.detail["error"] == reason

    view = retry_sandbox(app, ADMIN, sandbox_id, wait=True)

    assert view["state"] == "active" and view["cloud_id"] == failed.progress["account_id"]
    assert len(checks.accounts_with_email(aws_url, f"aws+{failed.name}@example.com")) == 1
    checks.assert_lifecycle_legal(app)


def test_aws_create_account_failed_email_exists_fails_with_that_reason(make_stack, aws_proxy, aws_url):
    """moto cannot fail a CreateAccount; the proxy answers the request and its status as AWS does."""
    app, _clock, sandbox_id = requested(make_stack(aws_endpoint=aws_proxy.url), "aws", "aws-individual")
    request_id = "car-0123456789abcdef0123456789abcdef"
    aws_proxy.reply("CreateAccount", lambda body: {"CreateAccountStatus": {
        "Id": request_id, "AccountName": body["AccountName"], "State": "IN_PROGRESS"}})
    aws_proxy.reply("DescribeCreateAccountStatus", {"CreateAccountStatus": {
        "Id": request_id, "State": "IN_PROGRESS"}})
    aws_proxy.reply("DescribeCreateAccountStatus", lambda body: {"CreateAccountStatus": {
        "Id": body["CreateAccountRequestId"], "State": "FAILED", "FailureReason": "EMAIL_ALREADY_EXISTS"}})

    result = provision_due(app)

    failed = checks.sandbox(app, sandbox_id)
    assert (result.done, result.failed) == (0, 1)
    assert failed.state == "failed"
    assert failed.last_error == f"AWS CreateAccount for {failed.name} failed: EMAIL_ALREADY_EXISTS"
    assert failed.progress.get("create_request_id") is None  # a retry asks anew
    assert failed.progress["create_failure"] == "EMAIL_ALREADY_EXISTS"
    assert checks.accounts_with_email(aws_url, f"aws+{failed.name}@example.com") == []
    assert aws_proxy.pending() == []
    checks.assert_lifecycle_legal(app)


def test_aws_close_quota_keeps_deleting_and_the_expiry_sweep_closes_it_once_the_quota_clears(
        make_stack, aws_proxy, aws_url):
    app, clock, sandbox_id = requested(make_stack(aws_endpoint=aws_proxy.url), "aws", "aws-individual")
    assert provision_due(app).done == 1
    account = checks.sandbox(app, sandbox_id).cloud_id
    aws_proxy.fail("CloseAccount", "ConstraintViolationException",
                   "You have exceeded close account quota for the past 30 days.", count=2,
                   Reason="CLOSE_ACCOUNT_QUOTA_EXCEEDED")

    view = destroy_sandbox(app, ALICE, sandbox_id)
    deferred = checks.sandbox(app, sandbox_id)
    same_day = expire_due(app)
    clock.advance(timedelta(days=1))
    still_over = expire_due(app)
    clock.advance(timedelta(days=1))
    cleared = expire_due(app)

    assert view["state"] == "deleting" and "at most 10% of member accounts" in view["note"]
    assert deferred.state == "deleting" and deferred.next_attempt_at == app.now() - timedelta(days=1)
    assert "CLOSE_ACCOUNT_QUOTA_EXCEEDED" not in deferred.last_error  # a sentence, not a code
    assert same_day.due == 0
    assert (still_over.due, still_over.done, still_over.failed) == (1, 1, 0)  # deferred is not a failure
    assert (cleared.due, cleared.done, cleared.failed) == (1, 1, 0)
    assert checks.sandbox(app, sandbox_id).state == "deleted"
    assert aws_proxy.seen["CloseAccount"] == 3 and aws_proxy.pending() == []
    status = checks.aws(aws_url, "organizations").describe_account(AccountId=account)["Account"]["Status"]
    assert status == "SUSPENDED" and checks.ou_path(aws_url, account) == "/sandbox/closed"
    assert checks.actions(app, sandbox_id)[-4:] == ["destroy", "close_deferred", "close_deferred", "deleted"]
    assert checks.credentials(app, sandbox_id) == {}
    checks.assert_lifecycle_legal(app)


# ---- GCP ----------------------------------------------------------------------------------

def test_gcp_409_429_503_are_retried_with_backoff_then_active(make_stack, gcp_emulator):
    # [gcp] max_attempts = 2: GoogleCalls.call tries each call twice, with jittered backoff.
    app, clock, sandbox_id = requested(make_stack(), "gcp", "gcp-individual")
    gcp_emulator.inject_fault(r"^/v3/projects$", method="POST", status=429)
    gcp_emulator.inject_fault(r"/billingInfo$", method="PUT", status=503)
    gcp_emulator.inject_fault(r":batchEnable$", method="POST", status=503, count=2)  # longer than our retries
    gcp_emulator.inject_fault(r":setIamPolicy$", method="POST", status=409, status_name="ABORTED",
                              message="There were concurrent policy changes.")

    first = provision_due(app)
    waiting = checks.sandbox(app, sandbox_id)
    clock.advance(MINUTE)
    second = provision_due(app)

    assert (first.done, first.failed) == (0, 1) and "503 UNAVAILABLE" in first.errors[0]
    assert (waiting.state, waiting.attempts) == ("provisioning", 1)
    assert (second.done, second.failed) == (1, 0)
    final = checks.sandbox(app, sandbox_id)
    assert final.state == "active"
    state = gcp_emulator.state.dump()
    assert state["faults"] == []  # every fault was met
    [project] = checks.gcp_projects_of(gcp_emulator, sandbox_id)
    assert project["projectId"] == final.cloud_id and project["state"] == "ACTIVE"
    assert state["billing"][final.cloud_id] == DEFAULT_BILLING_ACCOUNT
    assert "compute.googleapis.com" in state["services"][final.cloud_id]
    owners = [b for b in state["iam_policies"][final.cloud_id]["bindings"] if b["role"] == "roles/owner"]
    assert f"user:{ALICE.email}" in owners[0]["members"]
    assert checks.actions(app, sandbox_id) == ["request", "provision_start", "provision_retry", "provisioned"]
    checks.assert_lifecycle_legal(app)


def test_gcp_403_on_billing_fails_with_the_clouds_reason(make_stack, gcp_emulator):
    app, _clock, sandbox_id = requested(make_stack(), "gcp", "gcp-individual")
    gcp_emulator.inject_fault(r"/billingInfo$", method="PUT", status=403, status_name="PERMISSION_DENIED",
                              message="The caller does not have permission")

    result = provision_due(app)

    failed = checks.sandbox(app, sandbox_id)
    project_id = failed.progress["project_id"]
    assert (result.done, result.failed) == (0, 1)
    assert failed.state == "failed"
    assert failed.last_error == (
        f"GCP billing.updateBillingInfo for {project_id} failed: 403 PERMISSION_DENIED: The caller does not "
        f"have permission (billing account {DEFAULT_BILLING_ACCOUNT} does not exist or these credentials may "
        "not link projects to it: fix gcp.billing_account)")
    assert gcp_emulator.state.dump()["billing"][project_id] in ("", None)  # nothing linked
    assert "billing_linked" not in failed.progress
    checks.assert_lifecycle_legal(app)


def test_aws_create_account_answer_lost_then_retried_adopts_the_account_it_made(make_stack, aws_proxy, aws_url):
    """A 500 after CreateAccount did its work: botocore sends it again, and AWS (which, unlike
    moto, refuses a second account with the same root e-mail, emulated here by the proxy)
    answers FAILED / EMAIL_ALREADY_EXISTS. The account is ours: the sandbox adopts it."""
    app, _clock, sandbox_id = requested(make_stack(aws_endpoint=aws_proxy.url), "aws", "aws-individual")
    refused: set[str] = set()

    def unique_email(body):
        if not checks.accounts_with_email(aws_url, body["Email"]):
            return None  # to moto
        refused.add(f"car-{len(refused):032d}")
        return {"CreateAccountStatus": {"Id": max(refused), "AccountName": body["AccountName"],
                                        "State": "IN_PROGRESS"}}

    aws_proxy.fail("CreateAccount", "InternalFailure", "Internal failure.", status=500, after_forward=True)
    aws_proxy.reply("CreateAccount", unique_email, count=10)
    aws_proxy.reply("DescribeCreateAccountStatus", lambda body: {"CreateAccountStatus": {
        "Id": body["CreateAccountRequestId"], "State": "FAILED", "FailureReason": "EMAIL_ALREADY_EXISTS",
    }} if body["CreateAccountRequestId"] in refused else None, count=10)

    result = provision_due(app)

    final = checks.sandbox(app, sandbox_id)
    assert len(refused) == 1  # the retried CreateAccount was refused, as AWS would
    assert (result.done, result.failed) == (1, 0), result.errors
    accounts = checks.accounts_with_email(aws_url, f"aws+{final.name}@example.com")
    assert final.state == "active" and [a["Id"] for a in accounts] == [final.cloud_id]
    checks.assert_lifecycle_legal(app)
