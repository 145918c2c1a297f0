"""Project IAM policy edits: read-modify-write guarded by the policy's etag.

setIamPolicy with a stale etag fails with 409 ABORTED (another writer changed the
policy since our read, https://cloud.google.com/iam/docs/policies#etag). ABORTED is
retryable in `GoogleCalls.call`, and the whole read-modify-write is the retried unit,
so each attempt starts from a fresh read and never overwrites the other writer.
Granting and revoking a member's template roles touch only unconditional bindings;
a freeze (`strip_members`) takes every principal but ours out of every binding,
conditional ones too. Policies are always read as version 3: a version-1 read hides
conditions (their roles come back marked "_withcond_") and cannot be written back
(https://cloud.google.com/iam/docs/policies#versions).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable

from sandbox.providers.gcp.calls import GoogleCalls


def principal(email: str) -> str:
    return f"user:{email.strip().lower()}"


def add_members(policy: Any, members: Iterable[str], roles: Iterable[str]) -> bool:
    """Add each member to each role's unconditional binding; True if anything changed."""
    changed = False
    for role in roles:
        binding = _binding(policy, role)
        for member in members:
            if binding is None:
                binding = policy.bindings.add(role=role)
            if member not in binding.members:
                binding.members.append(member)
                changed = True
    return changed


def remove_members(policy: Any, members: Iterable[str], roles: Iterable[str]) -> bool:
    """Remove the members from these roles only; drop bindings left empty."""
    members, roles = set(members), set(roles)
    changed = False
    for index in reversed(range(len(policy.bindings))):
        binding = policy.bindings[index]
        if binding.role not in roles or binding.HasField("condition"):
            continue
        left = [m for m in binding.members if m not in members]
        if len(left) == len(binding.members):
            continue
        changed = True
        if left:
            del binding.members[:]
            binding.members.extend(left)
        else:
            del policy.bindings[index]
    return changed


# Service agents: Google-managed service accounts that only Google's own code acts as,
# which a service needs to keep working on a frozen project; they stay through a freeze
# (https://cloud.google.com/iam/docs/service-account-types#service-agents,
# https://cloud.google.com/iam/docs/service-agents). A project's agents carry its number,
# in a Google-owned domain: service-N@<agent domain>, p<N>-<id>@gcp-sa-*, and the Google
# APIs Service Agent N@cloudservices.gserviceaccount.com. Requiring this project's
# number keeps out look-alikes (anyone may name their own service account service-123).
# The default service accounts - Compute Engine's N-compute@developer.gserviceaccount.com,
# App Engine's ID@appspot.gserviceaccount.com, the legacy Cloud Build N@cloudbuild.gserviceaccount.com -
# are user-managed by Google's definition (https://cloud.google.com/iam/docs/service-account-types#default):
# the sandbox's user runs code as them (VMs, build triggers), with whatever roles they
# gave them, so a freeze removes them like any other principal.
_LEGACY_AGENT_DOMAINS = (
    "compute-system", "container-engine-robot", "containerregistry", "gcf-admin-robot",
    "serverless-robot-prod", "dataflow-service-producer-prod", "dataproc-accounts",
    "cloudcomposer-accounts", "cloud-ml.google.com", "cloud-redis", "cloud-tpu",
    "firebase-rules", "gae-api-prod.google.com", "genomics-api.google.com",
)
_AGENT = re.compile(
    r"^serviceAccount:(?:service-(?P<number>\d+)@(?P<domain>gcp-sa-[a-z0-9-]+|"
    + "|".join(re.escape(d) for d in _LEGACY_AGENT_DOMAINS) + r")\.iam\.gserviceaccount\.com"
    r"|p(?P<instance>\d+)-[a-z0-9]+@gcp-sa-[a-z0-9-]+\.iam\.gserviceaccount\.com"
    r"|(?P<apis>\d+)@cloudservices\.gserviceaccount\.com)$")


def is_service_agent(member: str, project_number: str) -> bool:
    """Whether `member` is one of this project's Google-managed service agents."""
    found = _AGENT.match(member)
    if found is None:
        return False
    return project_number in (found["number"], found["instance"], found["apis"])


def strip_members(policy: Any, keep: Callable[[str], bool]) -> list[dict[str, Any]]:
    """Take every member `keep` refuses out of every binding, conditional ones too, and
    drop the bindings left empty. Returns what was removed, as `binding_json` dicts."""
    removed = []
    for index in reversed(range(len(policy.bindings))):
        binding = policy.bindings[index]
        gone = [m for m in binding.members if not keep(m)]
        if not gone:
            continue
        removed.append(dict(binding_json(binding), members=sorted(gone)))
        left = [m for m in binding.members if keep(m)]
        if left:
            del binding.members[:]
            binding.members.extend(left)
        else:
            del policy.bindings[index]
    return merge_bindings([], removed)


def binding_json(binding: Any) -> dict[str, Any]:
    """A binding as JSON: role, members, and its condition (title, expression, ...) if any."""
    doc: dict[str, Any] = {"role": binding.role, "members": sorted(binding.members)}
    if binding.HasField("condition"):
        condition = binding.condition
        doc["condition"] = {key: value for key, value in (
            ("title", condition.title), ("description", condition.description),
            ("expression", condition.expression), ("location", condition.location)) if value}
    return doc


def merge_bindings(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`binding_json` dicts merged by (role, condition), members deduplicated, in a stable order."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for group in groups:
        for binding in group:
            key = (binding["role"], json.dumps(binding.get("condition"), sort_keys=True))
            entry = merged.setdefault(key, {**binding, "members": []})
            entry["members"] = sorted({*entry["members"], *binding["members"]})
    return [merged[key] for key in sorted(merged)]


def holds_role(policy: Any, member: str) -> bool:
    """Whether `member` is in some unconditional binding (a condition may expire)."""
    member = member.lower()
    return any(not b.HasField("condition") and member in (m.lower() for m in b.members)
               for b in policy.bindings)


def roles_of(policy: Any, member: str) -> list[str]:
    return sorted({b.role for b in policy.bindings if member in b.members})


def _binding(policy: Any, role: str) -> Any:
    for binding in policy.bindings:
        if binding.role == role and not binding.HasField("condition"):
            return binding
    return None


class IamPolicies:
    def __init__(self, calls: GoogleCalls):
        self.calls = calls

    def read(self, project_id: str) -> Any:
        return self.calls.call("projects.getIamPolicy", project_id, lambda: self._get(project_id))

    def update(self, project_id: str, change: Callable[[Any], bool]) -> Any:
        """Apply `change` to a fresh read and write it back with the read's etag."""

        def read_modify_write() -> Any:
            policy = self._get(project_id)
            if not change(policy):
                return policy
            return self.calls.projects.set_iam_policy(
                request={"resource": f"projects/{project_id}", "policy": policy}, retry=None)

        return self.calls.call("projects.setIamPolicy", project_id, read_modify_write)

    def _get(self, project_id: str) -> Any:
        return self.calls.projects.get_iam_policy(
            request={"resource": f"projects/{project_id}",
                     "options": {"requested_policy_version": 3}}, retry=None)
