"""Project IAM policies: read-modify-write guarded by etag."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.iam.v1 import policy_pb2
from googleapiclient.errors import HttpError

from sandbox.emulators.gcp import DEFAULT_CALLER

from .conftest import google_status


def binding(role, *members):
    return policy_pb2.Binding(role=role, members=list(members))


def test_new_project_policy_makes_the_creator_owner(projects_client, make_project):
    make_project("sbx-alpha-1")

    policy = projects_client.get_iam_policy(resource="projects/sbx-alpha-1")

    assert [(b.role, list(b.members)) for b in policy.bindings] == [("roles/owner", [DEFAULT_CALLER])]
    assert policy.etag


def test_set_with_current_etag_then_stale_etag_is_aborted(projects_client, make_project):
    make_project("sbx-alpha-1")
    policy = projects_client.get_iam_policy(resource="projects/sbx-alpha-1")
    policy.bindings.append(binding("roles/editor", "user:alice@example.com"))

    updated = projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": policy})

    assert updated.etag != policy.etag
    assert ("roles/editor", ["user:alice@example.com"]) in [(b.role, list(b.members)) for b in updated.bindings]
    with pytest.raises(exceptions.Conflict) as error:  # policy.etag is now stale
        projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": policy})
    # api_core maps HTTP 409 to Conflict; the body says ABORTED (retry the read-modify-write).
    assert google_status(error.value) == "ABORTED"
    assert not isinstance(error.value, exceptions.AlreadyExists)


def test_set_without_etag_overwrites(projects_client, make_project):
    make_project("sbx-alpha-1")

    policy = policy_pb2.Policy(bindings=[binding("roles/viewer", "group:devs@example.com")])
    projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": policy})

    current = projects_client.get_iam_policy(resource="projects/sbx-alpha-1")
    assert [(b.role, list(b.members)) for b in current.bindings] == [("roles/viewer", ["group:devs@example.com"])]


def test_bindings_come_back_merged_and_sorted(crm, make_project):
    make_project("sbx-alpha-1")
    policy = {"bindings": [
        {"role": "roles/viewer", "members": ["user:b@example.com", "user:a@example.com"]},
        {"role": "roles/editor", "members": ["user:c@example.com"]},
        {"role": "roles/viewer", "members": ["user:a@example.com"]},
        {"role": "roles/browser", "members": []},
    ]}

    result = crm.projects().setIamPolicy(resource="projects/sbx-alpha-1", body={"policy": policy}).execute()

    assert result["bindings"] == [
        {"role": "roles/editor", "members": ["user:c@example.com"]},
        {"role": "roles/viewer", "members": ["user:a@example.com", "user:b@example.com"]},
    ]


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers", "user:not-an-email", "alice@example.com"])
def test_invalid_members_are_rejected(projects_client, make_project, member):
    make_project("sbx-alpha-1")
    policy = policy_pb2.Policy(bindings=[binding("roles/viewer", member)])

    with pytest.raises(exceptions.BadRequest) as error:
        projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": policy})
    assert google_status(error.value) == "INVALID_ARGUMENT"


def test_policy_of_unknown_project_is_permission_denied(projects_client, emulator):
    with pytest.raises(exceptions.Forbidden):
        projects_client.get_iam_policy(resource="projects/no-such-project")


UNTIL_2099 = {"title": "until 2099", "expression": 'request.time < timestamp("2099-01-01T00:00:00Z")'}


def _conditional_policy(crm, project="sbx-alpha-1"):
    policy = crm.projects().getIamPolicy(resource=f"projects/{project}",
                                         body={"options": {"requestedPolicyVersion": 3}}).execute()
    policy["version"] = 3
    policy["bindings"].append({"role": "roles/owner", "members": ["user:temp@example.com"],
                               "condition": UNTIL_2099})
    return crm.projects().setIamPolicy(resource=f"projects/{project}", body={"policy": policy}).execute()


def test_conditional_bindings_round_trip_as_version_3(crm, make_project):
    make_project("sbx-alpha-1")

    written = _conditional_policy(crm)

    read = crm.projects().getIamPolicy(resource="projects/sbx-alpha-1",
                                       body={"options": {"requestedPolicyVersion": 3}}).execute()
    assert written == read and read["version"] == 3
    assert {"role": "roles/owner", "members": ["user:temp@example.com"], "condition": UNTIL_2099} in read["bindings"]


def test_a_version_1_read_hides_conditions_and_cannot_be_written_back(crm, make_project):
    make_project("sbx-alpha-1")
    _conditional_policy(crm)

    old = crm.projects().getIamPolicy(resource="projects/sbx-alpha-1", body={}).execute()

    assert old["version"] == 1
    marked = [b for b in old["bindings"] if "_withcond_" in b["role"]]
    assert [b["members"] for b in marked] == [["user:temp@example.com"]]
    assert not any("condition" in b for b in old["bindings"])
    for policy in (old, dict(old, version=3)):  # v1 over conditions, or a _withcond_ role
        with pytest.raises(HttpError) as error:
            crm.projects().setIamPolicy(resource="projects/sbx-alpha-1", body={"policy": policy}).execute()
        assert error.value.resp.status == 400


def test_a_condition_needs_version_3_and_a_title(crm, make_project):
    make_project("sbx-alpha-1")
    for policy in ({"bindings": [{"role": "roles/owner", "members": ["user:a@example.com"], "condition": UNTIL_2099}]},
                   {"version": 3, "bindings": [{"role": "roles/owner", "members": ["user:a@example.com"],
                                                "condition": {"expression": UNTIL_2099["expression"]}}]}):
        with pytest.raises(HttpError) as error:
            crm.projects().setIamPolicy(resource="projects/sbx-alpha-1", body={"policy": policy}).execute()
        assert error.value.resp.status == 400


def test_with_enforce_iam_a_caller_reaches_only_projects_it_holds_a_role_on(
        projects_client, make_project, control, folder):
    make_project("sbx-alpha-1")
    control.post("config", {"enforce_iam": True, "caller": "user:stranger@example.com"})
    try:
        with pytest.raises(exceptions.Forbidden) as error:  # exactly like a missing project
            projects_client.get_project(name="projects/sbx-alpha-1")
        assert "or it may not exist" in error.value.message
        assert list(projects_client.list_projects(parent=folder.name)) == []
    finally:
        control.post("config", {"enforce_iam": False, "caller": DEFAULT_CALLER})


def test_with_enforce_iam_a_viewer_may_read_but_not_write_the_policy(projects_client, make_project, control):
    make_project("sbx-alpha-1")
    policy = projects_client.get_iam_policy(resource="projects/sbx-alpha-1")
    policy.bindings.append(binding("roles/viewer", "user:viewer@example.com"))
    projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": policy})
    control.post("config", {"enforce_iam": True, "caller": "user:viewer@example.com"})
    try:
        current = projects_client.get_iam_policy(resource="projects/sbx-alpha-1")
        with pytest.raises(exceptions.Forbidden):
            projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": current})
    finally:
        control.post("config", {"enforce_iam": False, "caller": DEFAULT_CALLER})


def test_enabling_a_service_grants_its_service_agent(projects_client, make_project, serviceusage):
    project = make_project("sbx-alpha-1")
    number = project.name.rpartition("/")[2]

    serviceusage.services().enable(name="projects/sbx-alpha-1/services/compute.googleapis.com").execute()

    policy = projects_client.get_iam_policy(resource="projects/sbx-alpha-1")
    agent = f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com"
    assert ("roles/compute.serviceAgent", [agent]) in [(b.role, list(b.members)) for b in policy.bindings]
