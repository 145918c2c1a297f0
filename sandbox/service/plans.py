"""From a sandbox row to what a provider needs: location, cost tags, the Plan."""

from __future__ import annotations

from sandbox.config import Settings
from sandbox.errors import ConfigError
from sandbox.models import Member as MemberRow
from sandbox.models import Sandbox
from sandbox.provider import Member, Plan, cloud_named


def department_location(settings: Settings, provider: str, department: str) -> str:
    cloud = cloud_named(provider)
    location, key = settings.cloud(provider).department_location(department), cloud.placement_key
    if not location:
        raise ConfigError(
            f"department {department!r} has no {cloud.title} location; add "
            f'[departments.{department}] {key} = "..." to {settings.source}'
        )
    if len(location) > 255:  # sandbox.location's width
        raise ConfigError(f"department {department!r}'s {cloud.title} location is longer than "
                          f"255 characters; shorten [departments.{department}] {key} in {settings.source}")
    return location


def cost_tags(sandbox: Sandbox, template_tags: dict[str, str]) -> dict[str, str]:
    """The cost-allocation tags; ours win over a template's tag of the same key."""
    return {
        **template_tags,
        "sandbox-id": sandbox.id,
        "sandbox-owner": sandbox.owner,
        "sandbox-department": sandbox.department,
        "sandbox-template": sandbox.template,
        "sandbox-expires": sandbox.expires_at.strftime("%Y-%m-%dT%H:%MZ"),
    }


def build_plan(sandbox: Sandbox, members: list[MemberRow]) -> Plan:
    snapshot = sandbox.snapshot
    ordered = sorted(members, key=lambda m: (m.role != "owner", m.email))
    return Plan(
        sandbox_id=sandbox.id,
        name=sandbox.name,
        department=sandbox.department,
        location=sandbox.location,
        members=tuple(Member(email=m.email, role=m.role) for m in ordered),
        tags=dict(sandbox.desired_tags),
        budget_usd=sandbox.budget_usd,
        thresholds=snapshot.thresholds,
        spec=snapshot.spec,
    )
