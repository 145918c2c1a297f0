"""cloudresourcemanager v3 projects, through the gapic REST client and the discovery client."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import resourcemanager_v3
from google.protobuf import field_mask_pb2

from sandbox.emulators.gcp import DEFAULT_ORGANIZATION

from .conftest import FAST_POLLING, google_status

Project = resourcemanager_v3.Project
ACTIVE, DELETE_REQUESTED = Project.State.ACTIVE, Project.State.DELETE_REQUESTED


def test_create_project_under_folder_waits_on_the_operation(projects_client, folder, control):
    operation = projects_client.create_project(
        project=Project(project_id="sbx-alpha-1", parent=folder.name, display_name="Alpha",
                        labels={"owner": "bob"}))
    assert operation.operation.done is False  # the client has to poll

    project = operation.result(polling=FAST_POLLING)

    assert project.project_id == "sbx-alpha-1"
    assert project.parent == folder.name
    assert project.state == ACTIVE
    assert project.name.startswith("projects/") and project.name[len("projects/"):].isdigit()
    assert operation.metadata.gettable
    assert control.get("stats")["requests"]["GET /v3/operations/{operation}"] >= 1


def test_get_by_id_and_by_number(projects_client, make_project):
    created = make_project("sbx-alpha-1")

    by_id = projects_client.get_project(name="projects/sbx-alpha-1")
    by_number = projects_client.get_project(name=created.name)

    assert by_id == by_number == created


def test_unknown_project_is_permission_denied_not_not_found(projects_client, emulator):
    # Google hides whether a project exists: 403, "(or it may not exist)".
    with pytest.raises(exceptions.Forbidden) as error:
        projects_client.get_project(name="projects/no-such-project")
    assert "or it may not exist" in error.value.message


def test_list_by_parent_sorted_by_display_name_and_paged(projects_client, make_project, folder):
    make_project("sbx-charlie", display_name="Charlie")
    make_project("sbx-alpha-1", display_name="Alpha")
    make_project("sbx-bravo-1", display_name="Bravo")
    make_project("sbx-elsewhere", parent=DEFAULT_ORGANIZATION, display_name="Elsewhere")

    pager = projects_client.list_projects(request={"parent": folder.name, "page_size": 2})

    assert [p.project_id for p in pager] == ["sbx-alpha-1", "sbx-bravo-1", "sbx-charlie"]


def test_list_requires_an_existing_parent(projects_client, emulator):
    with pytest.raises(exceptions.Forbidden):
        list(projects_client.list_projects(parent="folders/999"))
    with pytest.raises(exceptions.BadRequest):
        list(projects_client.list_projects(parent="teams/1"))


def test_search_by_parent_id_labels_and_state(projects_client, make_project, folder):
    make_project("sbx-alpha-1", labels={"team": "red", "env": "dev"})
    make_project("sbx-bravo-1", labels={"team": "blue", "env": "dev"})
    make_project("sbx-other-1", parent=DEFAULT_ORGANIZATION, labels={"team": "red"})
    projects_client.delete_project(name="projects/sbx-bravo-1").result(polling=FAST_POLLING)

    def ids(query):
        return sorted(p.project_id for p in projects_client.search_projects(query=query))

    assert ids(f"parent:{folder.name}") == ["sbx-alpha-1", "sbx-bravo-1"]
    assert ids("id:sbx-other-1") == ["sbx-other-1"]
    assert ids("labels.team:red") == ["sbx-alpha-1", "sbx-other-1"]
    assert ids("labels.team:*") == ["sbx-alpha-1", "sbx-bravo-1", "sbx-other-1"]
    assert ids("state:DELETE_REQUESTED") == ["sbx-bravo-1"]
    assert ids(f"parent:{folder.name} AND state:ACTIVE") == ["sbx-alpha-1"]
    # Documented quirk: side-by-side terms are ORed.
    assert ids("id:sbx-alpha-1 id:sbx-other-1") == ["sbx-alpha-1", "sbx-other-1"]
    assert ids("projectId:SBX-A*") == ["sbx-alpha-1"]


def test_update_labels_with_mask_replaces_and_can_clear(projects_client, make_project):
    make_project("sbx-alpha-1", labels={"owner": "bob"})
    mask = field_mask_pb2.FieldMask(paths=["labels"])

    updated = projects_client.update_project(
        project=Project(name="projects/sbx-alpha-1", labels={"owner": "alice", "expires": "2030-01-01"}),
        update_mask=mask).result(polling=FAST_POLLING)
    cleared = projects_client.update_project(
        project=Project(name="projects/sbx-alpha-1"), update_mask=mask).result(polling=FAST_POLLING)

    assert dict(updated.labels) == {"owner": "alice", "expires": "2030-01-01"}
    assert dict(cleared.labels) == {}
    assert dict(projects_client.get_project(name="projects/sbx-alpha-1").labels) == {}


def test_update_display_name_only_touches_display_name(projects_client, make_project):
    make_project("sbx-alpha-1", display_name="Alpha", labels={"owner": "bob"})

    projects_client.update_project(
        project=Project(name="projects/sbx-alpha-1", display_name="Alpha Two"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"])).result(polling=FAST_POLLING)

    project = projects_client.get_project(name="projects/sbx-alpha-1")
    assert (project.display_name, dict(project.labels)) == ("Alpha Two", {"owner": "bob"})


def test_delete_marks_delete_requested_and_undelete_restores(projects_client, make_project, folder):
    make_project("sbx-alpha-1")

    deleted = projects_client.delete_project(name="projects/sbx-alpha-1").result(polling=FAST_POLLING)

    assert deleted.state == DELETE_REQUESTED
    assert projects_client.get_project(name="projects/sbx-alpha-1").state == DELETE_REQUESTED
    assert list(projects_client.list_projects(parent=folder.name)) == []
    assert len(list(projects_client.list_projects(request={"parent": folder.name, "show_deleted": True}))) == 1

    restored = projects_client.undelete_project(name="projects/sbx-alpha-1").result(polling=FAST_POLLING)

    assert restored.state == ACTIVE
    assert projects_client.get_project(name="projects/sbx-alpha-1").state == ACTIVE


def test_only_active_projects_change_and_only_deleted_ones_undelete(projects_client, make_project):
    make_project("sbx-alpha-1")
    projects_client.delete_project(name="projects/sbx-alpha-1").result(polling=FAST_POLLING)

    with pytest.raises(exceptions.BadRequest) as delete_again:
        projects_client.delete_project(name="projects/sbx-alpha-1")
    with pytest.raises(exceptions.BadRequest) as update_deleted:
        projects_client.update_project(project=Project(name="projects/sbx-alpha-1", display_name="Renamed"))
    projects_client.undelete_project(name="projects/sbx-alpha-1").result(polling=FAST_POLLING)
    with pytest.raises(exceptions.BadRequest) as undelete_active:
        projects_client.undelete_project(name="projects/sbx-alpha-1")

    for error in (delete_again, update_deleted, undelete_active):
        assert google_status(error.value) == "FAILED_PRECONDITION"


def test_project_id_of_a_deleted_project_is_never_reused(projects_client, make_project, folder):
    make_project("sbx-alpha-1")
    projects_client.delete_project(name="projects/sbx-alpha-1").result(polling=FAST_POLLING)

    with pytest.raises(exceptions.Conflict) as error:
        projects_client.create_project(project=Project(project_id="sbx-alpha-1", parent=folder.name))

    # Over HTTP api_core maps 409 to Conflict; the Google status tells which 409.
    assert google_status(error.value) == "ALREADY_EXISTS"


@pytest.mark.parametrize("project_id", [
    "short", "a" * 31, "1starts-with-digit", "ends-with-hyphen-", "Upper-case-id",
    "under_score-id", "my-google-project", "null-project", "undefined-x", "ssl-sandbox",
])
def test_invalid_project_id_is_invalid_argument(projects_client, folder, project_id):
    with pytest.raises(exceptions.BadRequest) as error:
        projects_client.create_project(project=Project(project_id=project_id, parent=folder.name))
    assert google_status(error.value) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("labels", [
    {"Owner": "bob"}, {"1owner": "bob"}, {"owner": "Bob"}, {"owner": "bob@example.com"},
    {"k" * 64: "v"}, {"owner": "v" * 64}, {f"key{i}": "v" for i in range(65)},
])
def test_invalid_labels_are_invalid_argument(projects_client, folder, labels):
    with pytest.raises(exceptions.BadRequest) as error:
        projects_client.create_project(project=Project(project_id="sbx-alpha-1", parent=folder.name, labels=labels))
    assert google_status(error.value) == "INVALID_ARGUMENT"


def test_labels_allow_underscores_empty_values_and_international_lowercase(make_project):
    labels = {"cost_center": "", "équipe": "données", "k-1": "v_2"}

    assert dict(make_project("sbx-alpha-1", labels=labels).labels) == labels


def test_parent_must_exist_and_be_well_formed(projects_client, emulator):
    with pytest.raises(exceptions.Forbidden):
        projects_client.create_project(project=Project(project_id="sbx-alpha-1", parent="folders/424242"))
    with pytest.raises(exceptions.BadRequest):
        projects_client.create_project(project=Project(project_id="sbx-alpha-1", parent="projects/other"))


def test_operation_error_raises_already_exists_from_result(projects_client, folder, emulator):
    # A create that Google accepts and then fails in the operation (code 6).
    emulator.inject_fault(r"^/v3/projects$", method="POST",
                          operation_error={"code": 6, "message": "Requested entity already exists"})

    operation = projects_client.create_project(project=Project(project_id="sbx-alpha-1", parent=folder.name))

    with pytest.raises(exceptions.AlreadyExists):
        operation.result(polling=FAST_POLLING)
    with pytest.raises(exceptions.Forbidden):  # nothing was created
        projects_client.get_project(name="projects/sbx-alpha-1")


def test_gapic_gets_numeric_enums_discovery_gets_names(projects_client, crm, make_project, control):
    control.post("config", {"polls_before_done": 0})  # response inline in the create call
    operation = projects_client.create_project(
        project=Project(project_id="sbx-enums-1", parent=make_project().parent))

    assert operation.result().state == ACTIVE  # parsed from "state": 1
    assert crm.projects().get(name="projects/sbx-enums-1").execute()["state"] == "ACTIVE"


def test_discovery_client_create_and_poll_operation(crm, folder, control):
    control.post("config", {"polls_before_done": 2})

    operation = crm.projects().create(body={"projectId": "sbx-disco-1", "parent": folder.name}).execute()
    polls = [crm.operations().get(name=operation["name"]).execute() for _ in range(2)]

    assert not operation.get("done") and not polls[0].get("done")
    assert polls[1]["done"] is True
    assert polls[1]["metadata"]["@type"].endswith("resourcemanager.v3.CreateProjectMetadata")
    assert polls[1]["response"]["@type"].endswith("resourcemanager.v3.Project")
    assert polls[1]["response"]["projectId"] == "sbx-disco-1"


def test_unknown_body_field_is_rejected_like_google(crm, folder):
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as error:
        crm.projects().create(body={"projectId": "sbx-alpha-1", "parent": folder.name, "lables": {}}).execute()
    assert error.value.status_code == 400
    assert google_status(error.value) == "INVALID_ARGUMENT"


def test_move_project_between_folders(projects_client, folders_client, make_project):
    make_project("sbx-alpha-1")
    target = folders_client.create_folder(
        folder=resourcemanager_v3.Folder(display_name="Graveyard", parent=DEFAULT_ORGANIZATION)
    ).result(polling=FAST_POLLING)

    moved = projects_client.move_project(name="projects/sbx-alpha-1",
                                         destination_parent=target.name).result(polling=FAST_POLLING)

    assert moved.parent == target.name
