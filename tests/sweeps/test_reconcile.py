"""Reconcile: accounts and projects closed or deleted behind our back."""

from sandbox.models import Credential, Event, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE, BOB
from tests.sweeps.conftest import notice_kinds, rows, run


def test_closed_or_deleted_out_of_band_ends_deleted_without_credentials(bootstrapped, aws, gcp):
    app = bootstrapped
    closed = request_sandbox(app, ALICE, "aws-individual")["id"]
    deleted = request_sandbox(app, ALICE, "gcp-individual")["id"]
    purged = request_sandbox(app, ALICE, "gcp-individual")["id"]
    healthy = request_sandbox(app, BOB, "gcp-individual")["id"]
    run(app, "provision")
    cloud = {s.id: s.cloud_id for s in rows(app, Sandbox)}
    assert rows(app, Credential, Credential.sandbox_id == closed)  # AWS keeps a password and keys

    gcp.delete_project(cloud[purged])
    gcp.purge_deleted()  # gone from every listing: only a direct look can tell
    aws.org.close_account(AccountId=cloud[closed])
    gcp.delete_project(cloud[deleted])

    result = run(app, "reconcile")

    assert (result.due, result.done, result.failed) == (3, 3, 0)
    states = {s.id: s.state for s in rows(app, Sandbox)}
    assert states == {closed: "deleted", deleted: "deleted", purged: "deleted", healthy: "active"}
    assert rows(app, Credential, Credential.sandbox_id.in_([closed, deleted, purged])) == []
    marks = {e.sandbox_id: e for e in rows(app, Event, Event.action == "closed_out_of_band")}
    assert set(marks) == {closed, deleted, purged}
    assert (marks[closed].from_state, marks[closed].to_state) == ("active", "deleting")
    assert marks[closed].detail["cloud_state"] == "closed"
    assert marks[closed].detail["cloud_id"] == cloud[closed]
    assert marks[purged].detail["cloud_state"] == "not_found"
    assert aws.account(cloud[closed])["Status"] == "SUSPENDED"  # nothing reopened it
    assert notice_kinds(app, closed)["deleted"] == 1
    assert notice_kinds(app, healthy) == {"ready": 1}

    again = run(app, "reconcile")
    assert (again.due, again.failed) == (0, 0)
    assert len(rows(app, Event, Event.action == "closed_out_of_band")) == 3
