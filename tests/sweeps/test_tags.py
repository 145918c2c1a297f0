"""Cost tags: drift repaired in both clouds with events; orphans recorded, never touched."""

from sandbox.models import Event, Finding, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE
from tests.sweeps.conftest import rows, run


def test_drift_is_repaired_and_orphans_are_recorded_but_left_alone(bootstrapped, aws, gcp, clock):
    app = bootstrapped
    ids = [request_sandbox(app, ALICE, f"{p}-individual")["id"] for p in ("aws", "gcp")]
    run(app, "provision")
    account, project = (rows(app, Sandbox, Sandbox.id == sid)[0].cloud_id for sid in ids)
    wanted_tags, wanted_labels = aws.tags(account), gcp.project(project)["labels"]
    assert wanted_tags["cost-center"] == "sandbox" and wanted_labels["cost-center"] == "sandbox"

    # Out of band: a tag removed and one changed in AWS, a label removed in GCP.
    aws.org.untag_resource(ResourceId=account, TagKeys=["cost-center"])
    aws.org.tag_resource(ResourceId=account, Tags=[{"Key": "sandbox-owner", "Value": "mallory"}])
    gcp.set_labels(project, {k: v for k, v in wanted_labels.items() if k != "cost-center"})
    # ...and an account and a project made by hand in the managed OU / folder.
    created = aws.org.create_account(Email="by-hand@example.com", AccountName="by-hand")
    stray = created["CreateAccountStatus"]["AccountId"]
    root = aws.org.list_roots()["Roots"][0]["Id"]
    aws.org.move_account(AccountId=stray, SourceParentId=root,
                         DestinationParentId=aws.ou_id("/sandbox/active/engineering"))
    gcp.create_project("by-hand-project", gcp.folder("sandbox/active/engineering"))

    result = run(app, "tags")

    assert (result.due, result.done, result.failed) == (2, 2, 0)
    assert aws.tags(account) == wanted_tags
    assert gcp.project(project)["labels"] == wanted_labels
    repaired = {e.sandbox_id: e.detail for e in rows(app, Event, Event.action == "tags_repaired")}
    assert repaired[ids[0]] == {"before": {"cost-center": None, "sandbox-owner": "mallory"},
                                "after": {"cost-center": "sandbox", "sandbox-owner": ALICE.email}}
    assert repaired[ids[1]] == {"before": {"cost-center": None}, "after": {"cost-center": "sandbox"}}
    drift = {f.cloud_id: f for f in rows(app, Finding, Finding.kind == "drift")}
    assert set(drift) == {account, project} and all(f.resolved_at for f in drift.values())
    orphans = {f.cloud_id: f for f in rows(app, Finding, Finding.kind == "orphan")}
    assert set(orphans) == {stray, "by-hand-project"}
    assert orphans[stray].detail == {"name": "by-hand", "location": "/sandbox/active/engineering",
                                     "state": "active"}
    assert orphans["by-hand-project"].provider == "gcp" and orphans["by-hand-project"].resolved_at is None
    # Left alone: still active where they were made.
    assert aws.account(stray)["Status"] == "ACTIVE"
    assert gcp.project("by-hand-project")["state"] == "ACTIVE"

    # Nothing drifted since: no new events. The stray account leaves the managed OUs:
    # its finding is resolved; the project is still there and stays open.
    aws.org.move_account(AccountId=stray, SourceParentId=aws.ou_id("/sandbox/active/engineering"),
                         DestinationParentId=root)
    again = run(app, "tags")
    assert again.ok and len(rows(app, Event, Event.action == "tags_repaired")) == 2
    orphans = {f.cloud_id: f for f in rows(app, Finding, Finding.kind == "orphan")}
    assert orphans[stray].resolved_at == clock.now() and orphans["by-hand-project"].resolved_at is None
