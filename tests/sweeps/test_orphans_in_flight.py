"""Orphans and half-provisioned sandboxes (issue 16): a sandbox still provisioning, or
failed, may own an account or a project its cloud_id does not show yet. The tags job must
not report those as orphans: the step store knows the id, or (AWS, a crash right after
CreateAccount) the account carries the sandbox's name. What nobody owns still is one."""

from __future__ import annotations

from sqlalchemy import update

from sandbox.models import Finding, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE, BOB
from tests.sweeps.conftest import rows, run

DEPARTMENT = "/sandbox/active/engineering"


def made_by_hand(aws, name: str) -> str:
    """An account in the department's OU, as CreateAccount and MoveAccount leave it."""
    account_id = aws.org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]["AccountId"]
    root = aws.org.list_roots()["Roots"][0]["Id"]
    aws.org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=aws.ou_id(DEPARTMENT))
    return account_id


def half_provisioned(app, who, template: str, state: str, progress: dict) -> Sandbox:
    sandbox_id = request_sandbox(app, who, template)["id"]
    with app.session() as session:  # a worker got this far, then crashed or gave up
        session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(
            state=state, attempts=1, progress=progress, cloud_id=None))
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def orphans(app) -> dict[str, Finding]:
    return {f.cloud_id: f for f in rows(app, Finding, Finding.kind == "orphan")}


def test_what_a_half_provisioned_sandbox_owns_is_no_orphan(bootstrapped, aws, gcp):
    app = bootstrapped
    folder = gcp.folder("sandbox/active/engineering")
    # AWS: the step store knows the account (under a name that is not the sandbox's).
    known = made_by_hand(aws, "renamed-by-someone")
    by_step = half_provisioned(app, ALICE, "aws-individual", "provisioning",
                               {"create_started": "aws+x@example.com", "account_id": known})
    # AWS: failed with only CreateAccount sent; the account it made carries its name.
    by_name = half_provisioned(app, BOB, "aws-individual", "failed", {"create_started": "aws+y@example.com"})
    named = made_by_hand(aws, by_name.name)
    # GCP: the project id is saved before projects.create; one provisioning, one failed.
    gcp.create_project("half-made-project", folder)
    gcp.create_project("failed-made-project", folder)
    half_provisioned(app, ALICE, "gcp-individual", "provisioning", {"project_id": "half-made-project"})
    half_provisioned(app, BOB, "gcp-individual", "failed", {"project_id": "failed-made-project"})
    # ...and what no sandbox owns.
    stray = made_by_hand(aws, "by-hand")
    gcp.create_project("by-hand-project", folder)

    result = run(app, "tags")

    assert result.ok
    assert set(orphans(app)) == {stray, "by-hand-project"}
    assert {(f.provider, f.resolved_at) for f in orphans(app).values()} == {("aws", None), ("gcp", None)}
    # Recorded, never touched: the in-flight sandboxes' resources are as they were.
    assert {aws.account(a)["Status"] for a in (known, named, stray)} == {"ACTIVE"}
    assert {gcp.project(p)["state"] for p in ("half-made-project", "failed-made-project")} == {"ACTIVE"}
    # ...and the sandboxes too: the tags job leaves in-flight ones to provisioning.
    for sandbox in (by_step, by_name):
        (now,) = rows(app, Sandbox, Sandbox.id == sandbox.id)
        assert (now.state, now.cloud_id, now.version) == (sandbox.state, None, sandbox.version)


def test_an_orphan_adopted_by_a_retry_is_resolved(bootstrapped, aws, gcp, clock):
    app = bootstrapped
    # CreateAccount sent, its answer lost; a project made whose id the step store lost too.
    aws_one = half_provisioned(app, ALICE, "aws-individual", "provisioning", {"create_started": "aws+z@example.com"})
    gcp_one = half_provisioned(app, ALICE, "gcp-individual", "failed", {})
    account = made_by_hand(aws, "found-later")
    gcp.create_project("found-later-project", gcp.folder("sandbox/active/engineering"))
    run(app, "tags")
    assert set(orphans(app)) == {account, "found-later-project"}
    assert {f.resolved_at for f in orphans(app).values()} == {None}

    # A retry found them (by e-mail, by project id) and saved them in its step store.
    with app.session() as session:
        session.execute(update(Sandbox).where(Sandbox.id == aws_one.id).values(
            progress={**aws_one.progress, "account_id": account}))
        session.execute(update(Sandbox).where(Sandbox.id == gcp_one.id).values(
            progress={"project_id": "found-later-project"}))
    run(app, "tags")

    assert {cloud_id: f.resolved_at for cloud_id, f in orphans(app).items()} == {
        account: clock.now(), "found-later-project": clock.now()}


def test_a_deleted_sandbox_no_longer_vouches_for_its_step_store(bootstrapped, aws):
    """Only provisioning and failed sandboxes can own what their cloud_id does not show:
    one withdrawn to deleted owns nothing, so an account its steps name is an orphan."""
    app = bootstrapped
    account = made_by_hand(aws, "left-behind")
    gone = half_provisioned(app, ALICE, "aws-individual", "deleted", {"account_id": account})

    run(app, "tags")

    assert set(orphans(app)) == {account}
    assert orphans(app)[account].detail == {"name": "left-behind", "location": DEPARTMENT, "state": "active"}
    assert gone.state == "deleted"
