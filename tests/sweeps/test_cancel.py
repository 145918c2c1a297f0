"""Cancelling a sandbox that is not active yet (issue 13, 1): requested, waiting for approval,
or provisioning (backing off, or with a worker at it this moment). What exists in the cloud
is torn down, the quota is freed, and every move is in the transition table."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from sandbox.errors import IllegalTransitionError, PermissionDeniedError, ProviderError
from sandbox.models import Event, Sandbox
from sandbox.service import (describe_caller, destroy_sandbox, provision_sandbox, request_sandbox,
                             show_sandbox)
from tests.conftest import ALICE, BOB
from tests.sweeps.conftest import rows, run

SERVICES = {"method": "POST", "path_regex": r"services:batchEnable$", "status": 503, "status_name": "UNAVAILABLE",
            "count": 1000}


def load(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def moves(app, sandbox_id) -> list[tuple[str, str | None, str | None]]:
    events = sorted(rows(app, Event, Event.sandbox_id == sandbox_id), key=lambda e: e.id)
    return [(e.action, e.from_state, e.to_state) for e in events]


def test_a_provision_backing_off_with_a_project_made_is_torn_down_and_its_quota_freed(make_app, clock, gcp):
    app = make_app(quotas={"max_live_per_user": 1})
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    gcp.fault(**SERVICES)  # the project is made, then enabling its services fails
    run(app, "provision")
    project = load(app, sandbox_id).progress["project_id"]
    assert gcp.project(project)["state"] == "ACTIVE"

    shown = show_sandbox(app, ALICE, sandbox_id)
    assert (shown["state"], shown["attempts"], shown["max_attempts"]) == ("provisioning", 1, 5)
    assert shown["next_attempt_at"] == f"{clock.now() + timedelta(minutes=1):%Y-%m-%dT%H:%M:%S}Z"
    assert "UNAVAILABLE" in shown["last_error"]
    assert shown["next_attempt"] == (f"attempt 1 of 5 failed; the daemon retries at "
                                     f"{clock.now() + timedelta(minutes=1):%H:%M}Z; cancel with: sandbox destroy "
                                     f"{sandbox_id}")
    with pytest.raises(Exception, match="limit 1"):
        request_sandbox(app, ALICE, "gcp-individual")  # the stranded one holds the quota

    gcp.clear_faults()
    cancelled = destroy_sandbox(app, ALICE, sandbox_id)

    assert cancelled["state"] == "deleted"
    assert gcp.project(project)["state"] == "DELETE_REQUESTED"
    assert moves(app, sandbox_id)[-2:] == [("cancel", "provisioning", "deleting"), ("deleted", "deleting", "deleted")]
    assert describe_caller(app, ALICE)["quota"]["used"] == 0
    assert load(app, sandbox_id).lease_owner is None
    clock.advance(timedelta(minutes=5))
    assert run(app, "provision").due == 0  # nothing left for the daemon to retry


def test_a_provision_that_asked_the_cloud_nothing_is_withdrawn_straight_to_deleted(make_app, gcp):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    with app.session() as session:  # the daemon started it, then the cloud refused its first call
        session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(
            state="provisioning", attempts=1, last_error="GCP projects.create failed: 503"))

    assert destroy_sandbox(app, ALICE, sandbox_id)["state"] == "deleted"
    assert moves(app, sandbox_id)[-1] == ("cancel", "provisioning", "deleted")
    assert gcp.state()["projects"] == []


def test_a_worker_provisioning_this_moment_stops_at_its_next_step_and_tears_down_what_it_made(make_app, gcp):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    said = {}

    def cancel_once(_message):
        # The requester cancels from elsewhere while this worker holds the lease.
        if not said:
            said.update(destroy_sandbox(app, ALICE, sandbox_id))

    ended = provision_sandbox(app, sandbox_id, actor="daemon", progress=cancel_once)

    assert said["state"] == "deleting" and "a worker is provisioning it this moment" in said["note"]
    assert ended["state"] == "deleted"
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "deleted" and sandbox.lease_owner is None
    assert sandbox.progress.get("services_enabled") is None  # it stopped before the next step
    assert gcp.project(sandbox.progress["project_id"])["state"] == "DELETE_REQUESTED"
    assert ("provisioned", "provisioning", "active") not in moves(app, sandbox_id)
    assert moves(app, sandbox_id)[-2:] == [("cancel", "provisioning", "deleting"), ("deleted", "deleting", "deleted")]


def test_an_account_asked_for_whose_id_is_unknown_is_not_cancelled_blind(make_app, aws):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    with app.session() as session:  # CreateAccount sent, its answer lost with the connection
        session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(
            state="provisioning", attempts=1, progress={"create_started": "aws+x@example.com",
                                                        "create_request_id": "car-0123"}))

    with pytest.raises(IllegalTransitionError, match="whose id is not known yet"):
        destroy_sandbox(app, ALICE, sandbox_id)
    assert load(app, sandbox_id).state == "provisioning" and load(app, sandbox_id).lease_owner is None


def test_a_request_waiting_for_approval_is_withdrawn_by_its_requester_but_not_by_a_member(make_app):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "gcp-group", members=[BOB.email])["id"]
    with pytest.raises(PermissionDeniedError, match="only the owner"):
        destroy_sandbox(app, BOB, sandbox_id)

    assert destroy_sandbox(app, ALICE, sandbox_id)["state"] == "deleted"
    assert moves(app, sandbox_id)[-1] == ("withdraw", "requested", "deleted")


def test_a_teardown_the_cloud_refuses_stays_deleting_for_the_daemon(make_app, gcp):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    gcp.fault(**SERVICES)
    run(app, "provision")
    project = load(app, sandbox_id).progress["project_id"]
    gcp.fault(method="DELETE", path_regex=f"^/v3/projects/{project}$", status=503, status_name="UNAVAILABLE",
              count=1000)

    with pytest.raises(ProviderError, match="UNAVAILABLE"):
        destroy_sandbox(app, ALICE, sandbox_id)

    sandbox = load(app, sandbox_id)
    assert sandbox.state == "deleting" and sandbox.lease_owner is None
    assert show_sandbox(app, ALICE, sandbox_id)["next_attempt"].startswith("the teardown is retried at ")
