"""The provisioning queue: approval, concurrency, backoff, failure, admin retry, crash resume."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from sandbox.errors import ConcurrentUpdateError
from sandbox.models import Event, Sandbox
from sandbox.service import approve_sandbox, provision_sandbox, request_sandbox, retry_sandbox
from tests.conftest import ADMIN, ALICE, BOB
from tests.sweeps.conftest import notice_kinds, rows, run

CREATE_PROJECT = {"method": "POST", "path_regex": r"^/v3/projects$", "status": 503,
                  "status_name": "UNAVAILABLE", "count": 1000}


def load(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def test_queue_waits_for_approval_then_provisions_many_in_parallel(make_app, gcp):
    app = make_app(quotas={"max_live_per_user": 10}, gcp={"concurrency": 2})
    group = request_sandbox(app, ALICE, "gcp-group", members=[BOB.email])["id"]
    singles = [request_sandbox(app, who, "gcp-individual")["id"] for who in (ALICE, BOB, ALICE, BOB)]

    result = run(app, "provision")
    assert (result.due, result.done, result.failed) == (4, 4, 0)
    assert load(app, group).state == "requested"  # waits for an admin
    assert {load(app, sid).state for sid in singles} == {"active"}
    assert run(app, "provision").due == 0  # nothing due twice

    approve_sandbox(app, ADMIN, group)
    assert run(app, "provision").done == 1
    sandbox = load(app, group)
    assert sandbox.state == "active"
    assert {f"user:{ALICE.email}", f"user:{BOB.email}"} <= gcp.members(sandbox.cloud_id)
    projects = [p for p in gcp.state()["projects"] if p["state"] == "ACTIVE"]
    assert len(projects) == 5
    assert notice_kinds(app) == {"ready": 5}


def test_retryable_errors_back_off_then_fail_and_admin_retry_requeues(make_app, clock, gcp):
    app = make_app(daemon={"max_attempts": 3, "retry_backoff": "1m"})
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    gcp.fault(**CREATE_PROJECT)

    result = run(app, "provision")
    assert (result.due, result.done, result.failed) == (1, 0, 1)
    assert f"attempt 1 of 3 failed; the daemon retries at {clock.now() + timedelta(minutes=1):%H:%M}Z" \
        in result.errors[0]
    sandbox = load(app, sandbox_id)
    assert (sandbox.state, sandbox.attempts) == ("provisioning", 1)
    assert sandbox.next_attempt_at == clock.now() + timedelta(minutes=1)
    assert run(app, "provision").due == 0  # backing off

    clock.advance(timedelta(minutes=1))
    run(app, "provision")
    sandbox = load(app, sandbox_id)
    assert (sandbox.state, sandbox.attempts) == ("provisioning", 2)
    assert sandbox.next_attempt_at == clock.now() + timedelta(minutes=2)  # doubled

    clock.advance(timedelta(minutes=2))
    result = run(app, "provision")
    assert result.failed == 1
    sandbox = load(app, sandbox_id)
    assert (sandbox.state, sandbox.attempts, sandbox.next_attempt_at) == ("failed", 3, None)
    assert "UNAVAILABLE" in sandbox.last_error
    assert notice_kinds(app) == {"provision_failed": 1}
    clock.advance(timedelta(hours=1))
    assert run(app, "provision").due == 0  # failed stays failed until an admin acts

    gcp.clear_faults()
    retry_sandbox(app, ADMIN, sandbox_id)
    assert run(app, "provision").done == 1
    assert load(app, sandbox_id).state == "active"
    assert notice_kinds(app) == {"provision_failed": 1, "ready": 1}
    actions = [e.action for e in sorted(rows(app, Event, Event.sandbox_id == sandbox_id), key=lambda e: e.id)]
    assert actions == ["request", "provision_start", "provision_retry", "provision_retry", "provision_failed",
                       "retry", "provisioned"]


def test_half_done_sandbox_of_a_dead_worker_resumes_once_its_lease_runs_out(make_app, clock, gcp):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    # The project gets created, then enabling services fails: steps so far are saved.
    gcp.fault(method="POST", path_regex=r"services:batchEnable$", status=503, status_name="UNAVAILABLE",
              count=1000)
    run(app, "provision")
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "provisioning" and sandbox.progress.get("project_id")
    gcp.clear_faults()

    # A worker on another host picked it up again and died holding the lease.
    with app.session() as session:
        session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(
            lease_owner="other-host:4242", lease_until=clock.now() + timedelta(minutes=15)))
    clock.advance(timedelta(minutes=5))  # past the backoff, not past the lease
    assert run(app, "provision").due == 0

    clock.advance(timedelta(minutes=11))
    assert run(app, "provision").done == 1
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "active" and sandbox.lease_owner is None
    mine = [p for p in gcp.state()["projects"] if p["projectId"] == sandbox.cloud_id]
    assert len(gcp.state()["projects"]) == 1 and mine[0]["state"] == "ACTIVE"


def test_a_worker_whose_lease_was_taken_over_saves_no_step_and_leaves_the_sandbox_to_its_successor(
        make_app, gcp):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]

    def lease_taken_over(_message):
        # This worker stalled past its lease and another one claimed the sandbox.
        with app.session() as session:
            session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(lease_owner="other-host:4242"))

    with pytest.raises(ConcurrentUpdateError, match="taken over by another worker"):
        provision_sandbox(app, sandbox_id, actor="daemon", progress=lease_taken_over)

    sandbox = load(app, sandbox_id)
    assert sandbox.state == "provisioning" and sandbox.lease_owner == "other-host:4242"
    assert list(sandbox.progress) == ["project_id"]  # the step after the take-over was not saved
    actions = [e.action for e in rows(app, Event, Event.sandbox_id == sandbox_id)]
    assert "provision_failed" not in actions and "provision_retry" not in actions
