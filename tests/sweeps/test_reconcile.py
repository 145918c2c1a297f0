"""Reconcile: accounts and projects closed or deleted behind our back."""

from sandbox.models import Credential, Event, Finding, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE, BOB
from tests.sweeps.conftest import notice_kinds, rows, run


def test_closed_or_deleted_out_of_band_ends_deleted_without_credentials(bootstrapped, aws, gcp):
    app = bootstrapped
    closed = request_sandbox(app, ALICE, "aws-individual")["id"]
    deleted = request_sandbox(app, ALICE, "gcp-individual")["id"]
    refused = request_sandbox(app, ALICE, "gcp-individual")["id"]
    healthy = request_sandbox(app, BOB, "gcp-individual")["id"]
    run(app, "provision")
    cloud = {s.id: s.cloud_id for s in rows(app, Sandbox)}
    assert rows(app, Credential, Credential.sandbox_id == closed)  # AWS keeps a password and keys

    # Purged: gone from every listing, and Google answers 403 for it, as it does for a project
    # whose owner took our access away. That is never taken for gone.
    gcp.delete_project(cloud[refused])
    gcp.purge_deleted()
    aws.org.close_account(AccountId=cloud[closed])
    gcp.delete_project(cloud[deleted])

    result = run(app, "reconcile")

    assert (result.due, result.done, result.failed) == (3, 2, 1)
    assert "PERMISSION_DENIED" in " ".join(result.errors)
    states = {s.id: s.state for s in rows(app, Sandbox)}
    assert states == {closed: "deleted", deleted: "deleted", refused: "active", healthy: "active"}
    assert rows(app, Credential, Credential.sandbox_id.in_([closed, deleted])) == []
    marks = {e.sandbox_id: e for e in rows(app, Event, Event.action == "closed_out_of_band")}
    assert set(marks) == {closed, deleted}
    assert (marks[closed].from_state, marks[closed].to_state) == ("active", "deleting")
    assert marks[closed].detail["cloud_state"] == "closed"
    assert marks[closed].detail["cloud_id"] == cloud[closed]
    (unreachable,) = rows(app, Finding, Finding.kind == "unreachable")
    assert (unreachable.sandbox_id, unreachable.cloud_id) == (refused, cloud[refused])
    assert "PERMISSION_DENIED" in unreachable.detail["error"]
    assert aws.account(cloud[closed])["Status"] == "SUSPENDED"  # nothing reopened it
    assert notice_kinds(app, closed)["deleted"] == 1
    assert notice_kinds(app, healthy) == {"ready": 1}

    again = run(app, "reconcile")
    assert (again.due, again.failed) == (1, 1)  # still refused: retried every pass, never ended
    assert len(rows(app, Event, Event.action == "closed_out_of_band")) == 2
