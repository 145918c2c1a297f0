"""Finding a resource the way Google does: a missing one looks forbidden.

Google answers 403 PERMISSION_DENIED, not 404, for a project or folder that does
not exist, so that callers cannot probe for ids they may not see
(https://github.com/googleapis/google-api-go-client/issues/173,
https://github.com/googleapis/google-cloud-java/issues/440). A caller that wants
"does it exist?" must treat PermissionDenied like NotFound.

With `enforce_iam` on, project calls also check the caller's roles in the project's
own allow policy, and a project the caller holds no role on looks exactly like a
missing one (the same 403). Roles on folders or the organization are not modelled:
the caller may always create folders and projects, but reaches a project only through
its policy, as a tool that relies on the owner role a project's creator is given.
Conditions of conditional bindings are taken to hold.
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


_GET, _GET_POLICY = "resourcemanager.projects.get", "resourcemanager.projects.getIamPolicy"
_SERVICES_READ = ("serviceusage.services.get", "serviceusage.services.list")
# The project permissions the emulator checks and the predefined roles that grant them
# (a subset of https://cloud.google.com/iam/docs/roles-permissions); roles/owner holds all.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/editor": frozenset({_GET, _GET_POLICY, "resourcemanager.projects.update",
                               "serviceusage.services.enable", "serviceusage.services.disable",
                               *_SERVICES_READ}),
    "roles/viewer": frozenset({_GET, _GET_POLICY, *_SERVICES_READ}),
    "roles/browser": frozenset({_GET, _GET_POLICY}),
    "roles/resourcemanager.projectIamAdmin": frozenset({
        _GET, _GET_POLICY, "resourcemanager.projects.setIamPolicy"}),
    "roles/resourcemanager.projectMover": frozenset({
        _GET, "resourcemanager.projects.move", "resourcemanager.projects.update"}),
    "roles/resourcemanager.projectDeleter": frozenset({"resourcemanager.projects.delete"}),
    "roles/billing.projectManager": frozenset({
        _GET, "resourcemanager.projects.createBillingAssignment",
        "resourcemanager.projects.deleteBillingAssignment"}),
    "roles/serviceusage.serviceUsageAdmin": frozenset({
        _GET, "serviceusage.services.enable", "serviceusage.services.disable", *_SERVICES_READ}),
}


def caller_may(state: EmulatorState, project: Project, permission: str) -> bool:
    """Whether the caller holds `permission` on the project (always, without enforce_iam)."""
    if not state.settings.enforce_iam:
        return True
    caller = state.settings.caller.lower()
    for binding in project.iam_bindings:
        if caller not in (m.lower() for m in binding["members"]):
            continue
        role = binding["role"]
        if role == "roles/owner" or permission in ROLE_PERMISSIONS.get(role, ()):
            return True
    return False


def resolve_project(state: EmulatorState, key: str,
                    permission: str = "resourcemanager.projects.get") -> Project:
    """By id or number; DELETE_REQUESTED projects are still found. A project the caller
    may not act on (enforce_iam) is answered like a missing one."""
    project = state.find_project(key)
    if project is None or not caller_may(state, project, permission):
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
