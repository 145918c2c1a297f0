"""cloudresourcemanager v3 folders: create, get, list, search, delete."""

from __future__ import annotations

from typing import Any

from .access import check_parent, permission_denied, require_active, resolve_folder
from .errors import bad_request, precondition_failure
from .models import ACTIVE, DELETE_REQUESTED, RM_TYPE, Folder, timestamp
from .naming import check_folder_display_name, check_parent_format
from .routing import ApiRequest, list_response, paginate, read_body, start_operation
from .search import search
from .state import EmulatorState

FOLDER_FIELDS = ("name", "parent", "displayName", "state", "createTime", "updateTime",
                 "deleteTime", "etag")
# https://cloud.google.com/resource-manager/reference/rest/v3/folders/create
MAX_FOLDER_HEIGHT = 10
MAX_FOLDERS_PER_PARENT = 300
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


def folder_json(folder: Folder) -> dict[str, Any]:
    return dict({"@type": RM_TYPE + "Folder"}, **folder.to_json())


def _depth(state: EmulatorState, parent: str) -> int:
    depth = 0
    while parent.startswith("folders/"):
        depth += 1
        parent = state.folders[parent].parent
    return depth


def create_folder(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    body = read_body(request.body, FOLDER_FIELDS, "folder")
    display_name = body.get("displayName", "")
    check_folder_display_name(display_name)
    parent = body.get("parent", "")
    check_parent(state, parent, "resourcemanager.folders.create")
    siblings = [f for f in state.folders.values() if f.parent == parent and f.state == ACTIVE]
    # Google refuses these on the create call itself with FAILED_PRECONDITION and
    # a PreconditionFailure detail, not with 409 (see terraform-provider-google#1903).
    if any(f.display_name == display_name for f in siblings):
        raise precondition_failure("FOLDER_NAME_UNIQUENESS_VIOLATION", parent,
                                   "The folder operation violates display name uniqueness within the parent.")
    if _depth(state, parent) + 1 > MAX_FOLDER_HEIGHT:
        raise precondition_failure("FOLDER_HEIGHT_VIOLATION", parent,
                                   f"The folder hierarchy would exceed a height of {MAX_FOLDER_HEIGHT}.")
    if len(siblings) >= MAX_FOLDERS_PER_PARENT:
        raise precondition_failure("MAX_CHILD_FOLDERS_VIOLATION", parent,
                                   f"A parent can hold at most {MAX_FOLDERS_PER_PARENT} folders.")
    folder = Folder(name=state.new_folder_name(), parent=parent, display_name=display_name)
    state.folders[folder.name] = folder
    metadata = {"@type": RM_TYPE + "CreateFolderMetadata", "displayName": display_name, "parent": parent}
    return 200, start_operation(state, "v3", "fc", metadata, folder_json(folder))


def get_folder(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    return 200, resolve_folder(state, request.params["folder"]).to_json()


def list_folders(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    parent = request.arg("parent")
    if not parent:
        raise bad_request("parent", "Request is missing required parameter: parent.")
    check_parent_format(parent)
    if not state.parent_exists(parent):
        raise permission_denied("resourcemanager.folders.list", parent)
    show_deleted = request.flag("showDeleted")
    children = [f for f in state.folders.values()
                if f.parent == parent and (show_deleted or f.state == ACTIVE)]
    # Like projects, "sorted based upon the (ascending) lexical ordering of their display_name".
    children.sort(key=lambda f: f.display_name)
    page, token = paginate(children, request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return 200, list_response("folders", [f.to_json() for f in page], token)


def folder_field_values(folder: Folder, field: str) -> list[str] | None:
    scalars = {"displayname": folder.display_name, "parent": folder.parent,
               "state": folder.state, "lifecyclestate": folder.state, "name": folder.name}
    return [scalars[field]] if field in scalars else None


def search_folders(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    found = search(state.folders.values(), request.arg("query"), folder_field_values, side_by_side="AND")
    page, token = paginate(found, request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return 200, list_response("folders", [f.to_json() for f in page], token)


def delete_folder(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    folder = resolve_folder(state, request.params["folder"], "resourcemanager.folders.delete")
    require_active(folder, f"Folder {folder.name}")
    # "The folder must not have any ACTIVE child projects or folders" to be deleted.
    busy = any(p.parent == folder.name and p.state == ACTIVE for p in state.projects.values()) or any(
        f.parent == folder.name and f.state == ACTIVE for f in state.folders.values())
    if busy:
        raise precondition_failure("FOLDER_NOT_EMPTY", folder.name,
                                   "The folder has active child projects or folders.")
    folder.state = DELETE_REQUESTED
    folder.delete_time = folder.update_time = timestamp()
    return 200, start_operation(state, "v3", "fd", {"@type": RM_TYPE + "DeleteFolderMetadata"},
                                folder_json(folder))


ROUTE_TABLE = [
    ("POST", "/v3/folders", create_folder),
    ("GET", "/v3/folders", list_folders),
    ("GET", "/v3/folders:search", search_folders),
    ("GET", "/v3/folders/{folder}", get_folder),
    ("DELETE", "/v3/folders/{folder}", delete_folder),
]
