"""Project IAM policy edits: read-modify-write guarded by the policy's etag.

setIamPolicy with a stale etag fails with 409 ABORTED (another writer changed the
policy since our read, https://cloud.google.com/iam/docs/policies#etag). ABORTED is
retryable in `GoogleCalls.call`, and the whole read-modify-write is the retried unit,
so each attempt starts from a fresh read and never overwrites the other writer.
Only unconditional bindings are touched; conditional ones are someone else's.
"""

from __future__ import annotations

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
