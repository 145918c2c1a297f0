"""Project IAM policies: read-modify-write guarded by etag."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.iam.v1 import policy_pb2

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
