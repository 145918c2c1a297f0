"""Project IAM policies: getIamPolicy, setIamPolicy, testIamPermissions.

setIamPolicy is a read-modify-write guarded by the policy etag: a write whose
etag is not the current one fails with 409 ABORTED, and a write without etag
overwrites (https://cloud.google.com/iam/docs/policies#etag).

Conditional bindings need policy version 3 (https://cloud.google.com/iam/docs/policies#versions):
a read that does not ask for it (options.requestedPolicyVersion) gets them without their
conditions, roles marked "_withcond_", and a write must say version 3 whenever the new or
the stored policy has conditions.
"""

from __future__ import annotations

import re
from typing import Any

from .access import caller_may, require_active, resolve_project
from .errors import Aborted, bad_request
from .models import WITHCOND
from .routing import ApiRequest, read_body
from .state import EmulatorState

POLICY_FIELDS = ("version", "etag", "bindings", "auditConfigs")
BINDING_FIELDS = ("role", "members", "condition")
CONDITION_FIELDS = ("title", "description", "expression", "location")
POLICY_VERSIONS = (0, 1, 3)
ROLE_PATTERN = re.compile(r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+)$")
MEMBER_PATTERN = re.compile(
    r"^((deleted:)?(user|serviceAccount|group):[^@\s]+@[^@\s]+"
    r"|domain:[a-z0-9.-]+|principal(Set)?://\S+)$")
# "Project does not support allUsers and allAuthenticatedUsers as members."
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _normalize_bindings(bindings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge bindings of the same role and condition, sort and dedupe members,
    drop empty bindings: the canonical form Google returns."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in bindings:
        binding = read_body(raw, BINDING_FIELDS, "policy.bindings")
        role = binding.get("role", "")
        if not ROLE_PATTERN.match(role):
            raise bad_request("policy.bindings.role", f"Role {role!r} is not a valid role name.")
        members = binding.get("members") or []
        for member in members:
            if member in PUBLIC_MEMBERS:
                raise bad_request("policy.bindings.members",
                                  f"Project does not support {member} as a member of a binding.")
            if not MEMBER_PATTERN.match(member):
                raise bad_request("policy.bindings.members", f"Invalid member {member!r}.")
        if WITHCOND in role:
            raise bad_request("policy.bindings.role",
                              f"Role {role!r} is a version-1 rendering of a conditional binding; "
                              "read the policy with requestedPolicyVersion 3 and write version 3.")
        condition = binding.get("condition")
        if condition is not None:
            condition = read_body(condition, CONDITION_FIELDS, "policy.bindings.condition")
            if not condition.get("expression") or not condition.get("title"):
                raise bad_request("policy.bindings.condition",
                                  "A condition needs a title and an expression.")
        key = (role, repr(sorted(condition.items())) if condition else "")
        entry = merged.setdefault(key, {"role": role, "members": set()})
        if condition:
            entry["condition"] = condition
        entry["members"].update(members)
    out = []
    for entry in sorted(merged.values(), key=lambda b: (b["role"], repr(b.get("condition")))):
        if entry["members"]:
            out.append(dict(entry, members=sorted(entry["members"])))
    return out


def get_iam_policy(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = resolve_project(state, request.params["project"], "resourcemanager.projects.getIamPolicy")
    body = read_body(request.body, ("options",), "")
    options = read_body(body.get("options") or {}, ("requestedPolicyVersion",), "options")
    try:
        version = int(options.get("requestedPolicyVersion") or 0)
    except (TypeError, ValueError):
        raise bad_request("options.requested_policy_version", "requestedPolicyVersion must be an integer.") from None
    if version not in POLICY_VERSIONS:
        raise bad_request("options.requested_policy_version",
                          f"Invalid requested policy version {version}; valid versions are 1 and 3.")
    return 200, project.iam_policy(version)


def set_iam_policy(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = resolve_project(state, request.params["project"], "resourcemanager.projects.setIamPolicy")
    body = read_body(request.body, ("policy", "updateMask"), "")
    policy = read_body(body.get("policy") or {}, POLICY_FIELDS, "policy")
    require_active(project, f"Project {project.project_id}")
    etag = policy.get("etag", "")
    if etag and etag != project.iam_etag():
        raise Aborted("There were concurrent policy changes. Please retry the whole "
                      "read-modify-write with exponential backoff.")
    bindings = _normalize_bindings(policy.get("bindings") or [])
    try:
        version = int(policy.get("version") or 0)
    except (TypeError, ValueError):
        raise bad_request("policy.version", "version must be an integer.") from None
    if version not in POLICY_VERSIONS:
        raise bad_request("policy.version", f"Invalid policy version {version}; valid versions are 1 and 3.")
    stored_conditions = any("condition" in b for b in project.iam_bindings)
    if version < 3 and (stored_conditions or any("condition" in b for b in bindings)):
        raise bad_request("policy.version",
                          "The policy has conditional role bindings: set policy.version to 3 "
                          "(https://cloud.google.com/iam/docs/policies#versions).")
    mask = {p.strip() for p in (body.get("updateMask") or "bindings,etag").split(",")}
    if "bindings" in mask:
        project.iam_bindings = bindings
    if "auditConfigs" in mask or "audit_configs" in mask:
        project.iam_audit_configs = list(policy.get("auditConfigs") or [])
    project.iam_revision += 1
    return 200, project.iam_policy()


def test_iam_permissions(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = resolve_project(state, request.params["project"])
    body = read_body(request.body, ("permissions",), "")
    # Without enforce_iam the emulator's caller may do everything it asks about.
    permissions = [p for p in body.get("permissions") or [] if caller_may(state, project, p)]
    return 200, {"permissions": permissions} if permissions else {}


ROUTE_TABLE = [
    ("POST", "/v3/projects/{project}:getIamPolicy", get_iam_policy),
    ("POST", "/v3/projects/{project}:setIamPolicy", set_iam_policy),
    ("POST", "/v3/projects/{project}:testIamPermissions", test_iam_permissions),
]
