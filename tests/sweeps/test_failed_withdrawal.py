"""A failed sandbox is cleaned up by its owner's destroy (issue 16): withdrawn straight to
deleted when the cloud never made anything of it, torn down through deleting when it did.
The failures are real ones, answered by the GCP emulator over HTTP."""

from __future__ import annotations

from sandbox.models import Event, Notification, Sandbox
from sandbox.service import describe_caller, destroy_sandbox, request_sandbox
from tests.conftest import ALICE
from tests.sweeps.conftest import rows, run

DENIED = {"status": 403, "status_name": "PERMISSION_DENIED", "message": "The caller does not have permission",
          "count": 1000}


def load(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def moves(app, sandbox_id) -> list[tuple[str, str | None, str | None]]:
    events = sorted(rows(app, Event, Event.sandbox_id == sandbox_id), key=lambda e: e.id)
    return [(e.action, e.from_state, e.to_state) for e in events]


# Two tags that become one GCP label key: the provider refuses the plan (not retryable)
# before it records a project id or asks the cloud for anything.
CLASHING = """
provider = "gcp"
description = "Its tags clash as GCP labels."
kind = "individual"
[tags]
team = "a"
Team = "b"
[gcp]
roles = ["roles/viewer"]
"""


def test_a_failed_sandbox_the_cloud_made_nothing_of_is_withdrawn_straight_to_deleted(make_app, clock, gcp,
                                                                                     tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "gcp-clashing.toml").write_text(CLASHING)
    app = make_app(quotas={"max_live_per_user": 1}, templates={"dirs": [str(tmp_path / "tpl")]})
    sandbox_id = request_sandbox(app, ALICE, "gcp-clashing")["id"]
    run(app, "provision")
    failed = load(app, sandbox_id)
    assert failed.state == "failed" and "both become GCP label 'team'" in failed.last_error
    assert (failed.cloud_id, failed.progress) == (None, {})
    assert gcp.state()["projects"] == []

    view = destroy_sandbox(app, ALICE, sandbox_id)

    assert view["state"] == "deleted" and view["deleted_at"] == f"{clock.now():%Y-%m-%dT%H:%M:%S}Z"
    sandbox = load(app, sandbox_id)
    assert (sandbox.state, sandbox.deleted_at) == ("deleted", clock.now())
    # One move, no teardown: nothing went through deleting.
    assert moves(app, sandbox_id) == [("request", None, "requested"), ("provision_start", "requested", "provisioning"),
                                      ("provision_failed", "provisioning", "failed"), ("withdraw", "failed", "deleted")]
    assert gcp.state()["projects"] == []
    assert describe_caller(app, ALICE)["quota"]["used"] == 0
    assert request_sandbox(app, ALICE, "gcp-individual")["state"] == "requested"  # its place is free


def test_a_failed_sandbox_with_a_project_is_torn_down_through_deleting(make_app, gcp):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual")["id"]
    gcp.fault(method="PUT", path_regex=r"/billingInfo$", **DENIED)  # the project is made, billing refused
    run(app, "provision")
    failed = load(app, sandbox_id)
    project = failed.progress["project_id"]
    assert failed.state == "failed" and gcp.project(project)["state"] == "ACTIVE"
    gcp.clear_faults()

    view = destroy_sandbox(app, ALICE, sandbox_id)

    assert view["state"] == "deleted"
    assert moves(app, sandbox_id)[-3:] == [("provision_failed", "provisioning", "failed"),
                                          ("destroy", "failed", "deleting"), ("deleted", "deleting", "deleted")]
    assert gcp.project(project)["state"] == "DELETE_REQUESTED"
    assert [n.kind for n in rows(app, Notification, Notification.sandbox_id == sandbox_id)][-1] == "deleted"


def test_a_failed_aws_sandbox_that_never_learnt_its_account_id_is_torn_down_not_withdrawn(make_app, aws):
    """CreateAccount was sent, its status never came back (the polling gave up): the account
    exists under the sandbox's e-mail though the row holds no id. Destroy must find and close
    it, not drop the row and leave the account behind."""
    from sqlmodel import Session

    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    made = load(app, sandbox_id)
    with Session(app.engine) as session:  # as the row stands when the status poll gave up
        sandbox = session.get(Sandbox, sandbox_id)
        sandbox.state, sandbox.cloud_id = "failed", None
        sandbox.progress = {"create_started": made.progress["create_started"]}
        session.add(sandbox)
        session.commit()

    view = destroy_sandbox(app, ALICE, sandbox_id)

    assert view["state"] == "deleted"
    assert aws.account(made.cloud_id)["Status"] in ("SUSPENDED", "PENDING_CLOSURE")
    assert [m[0] for m in moves(app, sandbox_id)][-2:] == ["destroy", "deleted"]
