"""kill -9 of the provisioning process after each step in turn, then a restart.

The real command (`daemon --once --job provision`) runs in a subprocess through
tests/faults/crashing_cli.py: right after committing the step (or the secret) it is
given, it SIGKILLs itself, as an OOM kill or a lost node would. The dead worker's lease is then
run out (moved into the past: what 15 minutes would do) and the daemon runs again without
the fault. Whatever step it died after: exactly one account / project for the sandbox,
every step done, the sandbox active, and every secret stored exactly once and true.
"""

from __future__ import annotations

import io
import signal

import pytest

from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT
from sandbox.providers.gcp.iam import principal
from sandbox.daemon import run_daemon
from sandbox.service import bootstrap, request_sandbox
from sandbox.templates import find_template
from tests.conftest import ADMIN, ALICE
from tests.faults import checks

AWS_STEPS = ["create_started", "create_request_id", "moved_to", "tagged", "secret:password", "secret:access_key_id",
             f"member:{ALICE.email}", "budget"]
GCP_STEPS = ["project_id", "project_created", "billing_linked", "services_enabled", f"member:{ALICE.email}"]


def crash_and_restart(stack, provider: str, template: str, step: str):
    """Request, provision in a subprocess that dies after `step`, restart; (app, id, secrets at the crash)."""
    app = stack.app()
    bootstrap(app, ADMIN, [provider])
    sandbox_id = request_sandbox(app, ALICE, template)["id"]

    killed = stack.cli("daemon", "--once", "--job", "provision", crash_after=step)

    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    crashed = checks.sandbox(app, sandbox_id)
    assert crashed.state == "provisioning"
    if step.startswith("secret:"):
        assert checks.credentials(app, sandbox_id)[(ALICE.email, step.split(":", 1)[1])] == 1
    else:
        assert step in crashed.progress, crashed.progress
    stored = {name: checks.secret(app, sandbox_id, ALICE.email, name) for name in ("password", "access_key_id")}
    dead_worker = checks.expire_lease(app, sandbox_id)
    assert dead_worker and dead_worker != app.worker_id  # the killed process still held it

    out = io.StringIO()
    code = run_daemon(stack.settings, once=True, jobs=["provision"], out=out)

    assert (code, out.getvalue()) == (0, "provision: 1/1 done\n")
    return app, sandbox_id, stored


@pytest.mark.parametrize("step", AWS_STEPS)
def test_aws_provisioning_killed_after_each_step_resumes_to_one_whole_account(step, make_stack, aws_url):
    stack = make_stack()

    app, sandbox_id, at_crash = crash_and_restart(stack, "aws", "aws-individual", step)

    final = checks.sandbox(app, sandbox_id)
    assert (final.state, final.lease_owner, final.last_error) == ("active", None, None)
    [account] = checks.accounts_with_email(aws_url, f"aws+{final.name}@example.com")
    assert account["Id"] == final.cloud_id == final.progress["account_id"]
    assert final.progress["moved_to"] == checks.ou_path(aws_url, final.cloud_id) == "/sandbox/active/engineering"
    assert final.progress["tagged"] and final.progress[f"member:{ALICE.email}"]
    tags = checks.aws(aws_url, "organizations").list_tags_for_resource(ResourceId=final.cloud_id)["Tags"]
    assert {"Key": "sandbox-id", "Value": sandbox_id} in tags
    assert len(checks.budgets_named(aws_url, final.progress["budget"])) == 1

    iam = checks.member_iam(aws_url, final.cloud_id)
    assert [u["UserName"] for u in iam.list_users()["Users"]] == [ALICE.email]
    assert checks.login_profile(iam, ALICE.email)["UserName"] == ALICE.email
    policies = iam.list_attached_user_policies(UserName=ALICE.email)["AttachedPolicies"]
    assert [p["PolicyName"] for p in policies] == ["AdministratorAccess"]
    # No secret lost or doubled: one row each, and the key we hold is the user's only key.
    assert checks.credentials(app, sandbox_id) == {
        (ALICE.email, "password"): 1, (ALICE.email, "access_key_id"): 1, (ALICE.email, "secret_access_key"): 1}
    keys = iam.list_access_keys(UserName=ALICE.email)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [
        (checks.secret(app, sandbox_id, ALICE.email, "access_key_id"), "Active")]
    if at_crash["password"]:  # stored before the crash: kept, not replaced by another
        assert checks.secret(app, sandbox_id, ALICE.email, "password") == at_crash["password"]

    assert checks.action_counts(app, "provision_start")[sandbox_id] == 1
    assert checks.action_counts(app, "provisioned")[sandbox_id] == 1
    checks.assert_lifecycle_legal(app)


@pytest.mark.parametrize("step", GCP_STEPS)
def test_gcp_provisioning_killed_after_each_step_resumes_to_one_whole_project(step, make_stack, gcp_emulator):
    stack = make_stack()

    app, sandbox_id, _ = crash_and_restart(stack, "gcp", "gcp-individual", step)

    final = checks.sandbox(app, sandbox_id)
    assert (final.state, final.lease_owner, final.last_error) == ("active", None, None)
    [project] = checks.gcp_projects_of(gcp_emulator, sandbox_id)
    assert project["projectId"] == final.cloud_id == final.progress["project_id"]
    assert project["state"] == "ACTIVE"
    state = gcp_emulator.state.dump()
    assert state["billing"][final.cloud_id] == DEFAULT_BILLING_ACCOUNT == final.progress["billing_linked"]
    services = find_template(stack.settings.template_dirs(), "gcp-individual").spec["services"]
    assert set(services) <= set(state["services"][final.cloud_id])
    assert final.progress["services_enabled"] == services
    bindings = state["iam_policies"][final.cloud_id]["bindings"]
    owners = [b["members"] for b in bindings if b["role"] == "roles/owner"]
    assert [m for members in owners for m in members].count(principal(ALICE.email)) == 1
    assert final.progress[f"member:{ALICE.email}"] is True
    assert checks.action_counts(app, "provision_start")[sandbox_id] == 1
    assert checks.action_counts(app, "provisioned")[sandbox_id] == 1
    checks.assert_lifecycle_legal(app)
