"""Finding a resource the way Google does: a missing one looks forbidden.

Google answers 403 PERMISSION_DENIED, not 404, for a project or folder that does
not exist, so that callers cannot probe for ids they may not see
(https://github.com/googleapis/google-api-go-client/issues/173,
https://github.com/googleapis/google-cloud-java/issues/440). A caller that wants
"does it exist?" must treat PermissionDenied like NotFound.
"""

from __future__ import annotations

from .errors import FailedPrecondition, PermissionDenied, error_info
from .models import ACTIVE, Folder, Project
from .naming import check_parent_format
from .state import EmulatorState


def permission_denied(permission: str, resource: str) -> PermissionDenied:
    return PermissionDenied(
        f"Permission '{permission}' denied on resource "
        f"'//cloudresourcemanager.googleapis.com/{resource}' (or it may not exist).",
        [error_info("IAM_PERMISSION_DENIED", "cloudresourcemanager.googleapis.com",
                    {"permission": permission, "resource": resource})],
    )


def resolve_project(state: EmulatorState, key: str,
                    permission: str = "resourcemanager.projects.get") -> Project:
    """By id or number; DELETE_REQUESTED projects are still found."""
    project = state.find_project(key)
    if project is None:
        raise permission_denied(permission, f"projects/{key}")
    return project


def resolve_folder(state: EmulatorState, folder_id: str,
                   permission: str = "resourcemanager.folders.get") -> Folder:
    folder = state.folders.get(f"folders/{folder_id}")
    if folder is None:
        raise permission_denied(permission, f"folders/{folder_id}")
    return folder


def require_active(resource: Project | Folder, label: str) -> None:
    # A DELETE_REQUESTED resource "remains visible ... However, you cannot update" it.
    if resource.state != ACTIVE:
        raise FailedPrecondition(f"{label} is in state {resource.state}; precondition check failed.")


def check_parent(state: EmulatorState, parent: str, permission: str) -> None:
    """Well-formed (400), visible (403) and not being deleted (400 FAILED_PRECONDITION)."""
    kind, _ = check_parent_format(parent)
    if not state.parent_exists(parent):
        raise permission_denied(permission, parent)
    if kind == "folders":
        require_active(state.folders[parent], f"Parent {parent}")
