"""cloudresourcemanager v3 folders, through the gapic FoldersClient."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import resourcemanager_v3

from sandbox.emulators.gcp import DEFAULT_ORGANIZATION

from .conftest import FAST_POLLING, google_status

Folder = resourcemanager_v3.Folder


def create(folders_client, display_name, parent=DEFAULT_ORGANIZATION):
    return folders_client.create_folder(folder=Folder(display_name=display_name, parent=parent)).result(
        polling=FAST_POLLING)


def test_create_folder_returns_numeric_name_and_metadata(folders_client, emulator):
    operation = folders_client.create_folder(folder=Folder(display_name="Sandboxes", parent=DEFAULT_ORGANIZATION))

    folder = operation.result(polling=FAST_POLLING)

    assert folder.name.startswith("folders/") and folder.name.split("/")[1].isdigit()
    assert (folder.parent, folder.display_name, folder.state) == (DEFAULT_ORGANIZATION, "Sandboxes", Folder.State.ACTIVE)
    assert operation.metadata.display_name == "Sandboxes"
    assert folders_client.get_folder(name=folder.name) == folder


def test_nested_folders_and_list_sorted_by_display_name(folders_client, emulator):
    top = create(folders_client, "Sandboxes")
    for name in ("Team B", "Team A", "Team C"):
        create(folders_client, name, parent=top.name)

    children = folders_client.list_folders(request={"parent": top.name, "page_size": 2})

    assert [f.display_name for f in children] == ["Team A", "Team B", "Team C"]


def test_display_name_must_be_unique_under_a_parent(folders_client, emulator):
    create(folders_client, "Sandboxes")

    with pytest.raises(exceptions.BadRequest) as error:
        create(folders_client, "Sandboxes")

    # Google: FAILED_PRECONDITION with a PreconditionFailure, not 409.
    assert google_status(error.value) == "FAILED_PRECONDITION"
    assert error.value.details[0]["violations"][0]["type"] == "FOLDER_NAME_UNIQUENESS_VIOLATION"
    other = create(folders_client, "Other")
    assert create(folders_client, "Sandboxes", parent=other.name).display_name == "Sandboxes"


@pytest.mark.parametrize("display_name", ["", " leading space", "trailing-", "x" * 31, "bad/char"])
def test_invalid_display_name_is_invalid_argument(folders_client, emulator, display_name):
    with pytest.raises(exceptions.BadRequest) as error:
        create(folders_client, display_name)
    assert google_status(error.value) == "INVALID_ARGUMENT"


def test_parent_must_be_the_organization_or_an_existing_folder(folders_client, emulator):
    with pytest.raises(exceptions.Forbidden):
        create(folders_client, "Orphans", parent="organizations/999")
    with pytest.raises(exceptions.Forbidden):
        create(folders_client, "Orphans", parent="folders/999")
    with pytest.raises(exceptions.BadRequest):
        create(folders_client, "Orphans", parent="projects/abc")


def test_search_folders(folders_client, emulator):
    top = create(folders_client, "Sandboxes")
    create(folders_client, "Team A", parent=top.name)
    create(folders_client, "Tools", parent=DEFAULT_ORGANIZATION)

    def names(query):
        return sorted(f.display_name for f in folders_client.search_folders(query=query))

    assert names(f"parent={top.name}") == ["Team A"]
    assert names("displayName=T*") == ["Team A", "Tools"]
    assert names(f"displayName=T* AND parent={DEFAULT_ORGANIZATION}") == ["Tools"]


def test_delete_only_empty_folders(folders_client, projects_client, folder):
    projects_client.create_project(
        project=resourcemanager_v3.Project(project_id="sbx-alpha-1", parent=folder.name)).result(polling=FAST_POLLING)

    with pytest.raises(exceptions.BadRequest):
        folders_client.delete_folder(name=folder.name)
    projects_client.delete_project(name="projects/sbx-alpha-1").result(polling=FAST_POLLING)
    deleted = folders_client.delete_folder(name=folder.name).result(polling=FAST_POLLING)

    assert deleted.state == Folder.State.DELETE_REQUESTED
