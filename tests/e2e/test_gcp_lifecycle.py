"""A GCP sandbox's life through the service layer, checked in the emulator and the database."""

import pytest
from sqlmodel import Session

from sandbox.errors import SandboxError
from sandbox.models import Sandbox
from sandbox.service import (approve_sandbox, destroy_sandbox, get_credentials, list_events,
                             provision_sandbox, request_sandbox)
from tests.conftest import ADMIN, ALICE, BOB, make_settings


def project(emulator, project_id):
    return emulator.state.projects[project_id]


def folder_path(emulator, name):
    parts = []
    while name.startswith("folders/"):
        folder = emulator.state.folders[name]
        parts.append(folder.display_name)
        name = folder.parent
    return "/".join(reversed(parts))


def test_request_creates_project_in_department_folder(bootstrapped, gcp_emulator):
    view = request_sandbox(bootstrapped, ALICE, "gcp-individual", wait=True)
    assert view["state"] == "active" and view["cloud_id"] == view["name"]
    dump = gcp_emulator.state
    proj = project(gcp_emulator, view["cloud_id"])
    assert folder_path(gcp_emulator, proj.parent) == "sandbox/active/engineering"
    assert proj.labels["sandbox-owner"] == "alice_at_example-com"
    assert proj.labels["sandbox-id"] == view["id"] and proj.labels["cost-center"] == "sandbox"
    creds = get_credentials(bootstrapped, ALICE, view["id"])
    assert creds["project_id"] == view["cloud_id"] and creds["roles"] == ["roles/owner"]
    assert view["cloud_id"] in creds["console_url"]
    assert list(dump.projects) == [view["cloud_id"]]  # that project and no other


def test_group_project_grants_members_and_destroy_leaves_delete_requested(bootstrapped, gcp_emulator):
    app = bootstrapped
    view = request_sandbox(app, ALICE, "gcp-group", members=[BOB.email])
    approve_sandbox(app, ADMIN, view["id"])
    active = provision_sandbox(app, view["id"], actor="test")
    assert get_credentials(app, BOB, view["id"])["roles"] == ["roles/editor"]
    done = destroy_sandbox(app, ALICE, view["id"])
    assert done["state"] == "deleted"
    proj = project(gcp_emulator, active["cloud_id"])
    assert proj.state == "DELETE_REQUESTED"
    deleted = [e for e in list_events(app, ALICE, view["id"]) if e["action"] == "deleted"][0]
    assert deleted["detail"]["project_state"] == "DELETE_REQUESTED" and deleted["detail"]["purge_after"]


def test_missing_billing_account_fails_sandbox_with_reason(db_url, aws_url, gcp_url, gcp_emulator, clock):
    from sandbox.service import bootstrap, build_app

    settings = make_settings(db_url, aws_url, gcp_url, gcp={"billing_account": "billingAccounts/AAAAAA-BBBBBB-CCCCCC"})
    app = build_app(settings, clock=clock)
    bootstrap(app, ADMIN, ["gcp"])
    view = request_sandbox(app, ALICE, "gcp-individual")
    with pytest.raises(SandboxError, match="billing"):
        provision_sandbox(app, view["id"], actor="test")
    with Session(app.engine) as session:
        row = session.get(Sandbox, view["id"])
    assert row.state == "failed" and "billing" in row.last_error
    assert row.progress["project_id"] == row.name  # what was made is recorded for cleanup
    assert destroy_sandbox(app, ALICE, view["id"])["state"] == "deleted"
    assert project(gcp_emulator, row.name).state == "DELETE_REQUESTED"
    app.engine.dispose()
