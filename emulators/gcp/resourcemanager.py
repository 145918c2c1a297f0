"""cloudresourcemanager v3: projects, organizations and their operations.

Folders live in folders.py and IAM policies in iam.py; ROUTES gathers all three.
"""

from __future__ import annotations

from typing import Any

from . import folders, iam
from .access import caller_may, check_parent, permission_denied, require_active, resolve_project
from .errors import AlreadyExists, FailedPrecondition, bad_request
from .models import ACTIVE, DELETE_REQUESTED, RM_TYPE, Project, timestamp
from .naming import check_labels, check_parent_format, check_project_display_name, check_project_id
from .routing import (ApiRequest, Route, list_response, paginate, poll_operation, read_body,
                      start_operation)
from .search import search
from .state import EmulatorState

RM_ENUMS = {"state": {"STATE_UNSPECIFIED": 0, "ACTIVE": 1, "DELETE_REQUESTED": 2}}
PROJECT_FIELDS = ("name", "parent", "projectId", "state", "displayName", "createTime",
                  "updateTime", "deleteTime", "etag", "labels")
UPDATABLE_PROJECT_FIELDS = {"display_name": "displayName", "displayName": "displayName", "labels": "labels"}
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


def project_json(project: Project) -> dict[str, Any]:
    return dict({"@type": RM_TYPE + "Project"}, **project.to_json())


# -- projects ------------------------------------------------------------------
def create_project(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    body = read_body(request.body, PROJECT_FIELDS, "project")
    project_id = body.get("projectId", "")
    check_project_id(project_id)
    parent = body.get("parent", "")
    if parent:
        check_parent(state, parent, "resourcemanager.projects.create")
    display_name = body.get("displayName", "")
    check_project_display_name(display_name)
    labels = body.get("labels") or {}
    check_labels(labels)
    # Ids are global and never reused, even after deletion. Google answers the
    # create call itself with 409 "Requested entity already exists" (not an
    # operation error); the gapic client raises api_core Conflict for it.
    if project_id in state.projects:
        raise AlreadyExists("Requested entity already exists")
    project = Project(project_id=project_id, number=state.new_project_number(), parent=parent,
                      display_name=display_name, labels=dict(labels))
    project.iam_bindings = [{"role": "roles/owner", "members": [state.settings.caller]}]
    state.projects[project_id] = project
    metadata = {"@type": RM_TYPE + "CreateProjectMetadata", "createTime": project.create_time,
                "gettable": True, "ready": True}
    return 200, start_operation(state, "v3", "cp", metadata, project_json(project))


def get_project(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    return 200, resolve_project(state, request.params["project"]).to_json()


def list_projects(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    parent = request.arg("parent")
    if not parent:
        raise bad_request("parent", "Request is missing required parameter: parent.")
    check_parent_format(parent)
    if not state.parent_exists(parent):
        raise permission_denied("resourcemanager.projects.list", parent)
    show_deleted = request.flag("showDeleted")
    # Only projects the caller may get are listed (https://cloud.google.com/resource-manager/reference/rest/v3/projects/list).
    children = [p for p in state.projects.values()
                if p.parent == parent and not p.purged and (show_deleted or p.state == ACTIVE)
                and caller_may(state, p, "resourcemanager.projects.get")]
    # "list() returns projects sorted based upon the (ascending) lexical ordering
    # of their display_name."
    children.sort(key=lambda p: (p.display_name, p.project_id))
    page, token = paginate(children, request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return 200, list_response("projects", [p.to_json() for p in page], token)


def project_field_values(project: Project, field: str) -> list[str] | None:
    kind, _, number = project.parent.partition("/")
    scalars = {
        "displayname": project.display_name, "name": project.display_name,
        "parent": project.parent, "parent.type": kind.rstrip("s"), "parent.id": number,
        "id": project.project_id, "projectid": project.project_id,
        "state": project.state, "lifecyclestate": project.state,
    }
    if field in scalars:
        return [scalars[field]] if scalars[field] else []
    if field == "labels":
        return list(project.labels) + list(project.labels.values())
    if field.startswith("labels."):
        key = field[len("labels."):]
        return [project.labels[key]] if key in project.labels else []
    return None


def search_projects(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    visible = [p for p in state.projects.values()
               if not p.purged and caller_may(state, p, "resourcemanager.projects.get")]
    # Returns DELETE_REQUESTED projects too: add "AND state:ACTIVE" to exclude them.
    found = search(visible, request.arg("query"), project_field_values, side_by_side="OR")
    page, token = paginate(found, request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return 200, list_response("projects", [p.to_json() for p in page], token)


def update_project(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = resolve_project(state, request.params["project"], "resourcemanager.projects.update")
    body = read_body(request.body, PROJECT_FIELDS, "project")
    mask = [path.strip() for path in request.arg("updateMask").split(",") if path.strip()]
    for path in mask:
        if path not in UPDATABLE_PROJECT_FIELDS:
            raise bad_request("update_mask", f"Field {path!r} cannot be updated; only display_name and labels can.")
    # Without a mask the fields present in the body are updated, which is why
    # "deleting all labels requires an update mask for labels field".
    fields = {UPDATABLE_PROJECT_FIELDS[p] for p in mask} or {f for f in ("displayName", "labels") if body.get(f)}
    require_active(project, f"Project {project.project_id}")
    if "displayName" in fields:
        check_project_display_name(body.get("displayName", ""))
    if "labels" in fields:
        check_labels(body.get("labels") or {})
    if "displayName" in fields:
        project.display_name = body.get("displayName", "")
    if "labels" in fields:
        project.labels = dict(body.get("labels") or {})
    project.update_time = timestamp()
    return 200, start_operation(state, "v3", "up", {"@type": RM_TYPE + "UpdateProjectMetadata"},
                                project_json(project))


def delete_project(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = resolve_project(state, request.params["project"], "resourcemanager.projects.delete")
    # "This method will only affect the project if it has a lifecycle state of ACTIVE."
    require_active(project, f"Project {project.project_id}")
    project.state = DELETE_REQUESTED
    project.delete_time = project.update_time = timestamp()
    return 200, start_operation(state, "v3", "dp", {"@type": RM_TYPE + "DeleteProjectMetadata"},
                                project_json(project))


def undelete_project(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = resolve_project(state, request.params["project"], "resourcemanager.projects.undelete")
    if project.state != DELETE_REQUESTED:
        raise FailedPrecondition(f"Project {project.project_id} is not in state DELETE_REQUESTED.")
    project.state = ACTIVE
    project.delete_time = ""
    project.update_time = timestamp()
    return 200, start_operation(state, "v3", "udp", {"@type": RM_TYPE + "UndeleteProjectMetadata"},
                                project_json(project))


def move_project(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = resolve_project(state, request.params["project"], "resourcemanager.projects.move")
    body = read_body(request.body, ("name", "destinationParent"), "")
    destination = body.get("destinationParent", "")
    check_parent(state, destination, "resourcemanager.projects.move")
    require_active(project, f"Project {project.project_id}")
    project.parent = destination
    project.update_time = timestamp()
    return 200, start_operation(state, "v3", "mp", {"@type": RM_TYPE + "MoveProjectMetadata"},
                                project_json(project))


# -- organizations and operations ----------------------------------------------
def get_organization(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    name = f"organizations/{request.params['organization']}"
    if name != state.organization.name:
        raise permission_denied("resourcemanager.organizations.get", name)
    return 200, state.organization.to_json()


def get_operation(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    return 200, poll_operation(state, "v3", request.params["operation"])


def _routes() -> list[Route]:
    table = [
        ("POST", "/v3/projects", create_project),
        ("GET", "/v3/projects", list_projects),
        ("GET", "/v3/projects:search", search_projects),
        ("GET", "/v3/projects/{project}", get_project),
        ("PATCH", "/v3/projects/{project}", update_project),
        ("DELETE", "/v3/projects/{project}", delete_project),
        ("POST", "/v3/projects/{project}:undelete", undelete_project),
        ("POST", "/v3/projects/{project}:move", move_project),
        ("GET", "/v3/organizations/{organization}", get_organization),
        ("GET", "/v3/operations/{operation}", get_operation),
    ] + folders.ROUTE_TABLE + iam.ROUTE_TABLE
    return [Route(method, template, handler, RM_ENUMS) for method, template, handler in table]


ROUTES = _routes()
