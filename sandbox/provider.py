"""The contract every cloud implements, and the data that crosses it.

Providers never touch the database: what they must remember between steps (an AWS
create-account request id, a GCP project id, a generated password) goes through the
`StepStore` the service hands them, which commits each value before the next step
begins. That is what lets an interrupted provision resume instead of repeating.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

# Imported on first use, so `sandbox --help` loads no cloud SDK.
PROVIDER_CLASSES = {
    "aws": "sandbox.providers.aws:AwsProvider",
    "gcp": "sandbox.providers.gcp:GcpProvider",
}


@dataclass(frozen=True)
class Member:
    email: str
    role: str  # "owner" or "member"

    @property
    def handle(self) -> str:
        return self.email.split("@", 1)[0]


@dataclass(frozen=True)
class Threshold:
    percent: int
    action: str  # "notify" or "freeze"


@dataclass(frozen=True)
class Plan:
    """Everything a provider needs to build (or find again) one sandbox."""

    sandbox_id: str
    name: str  # {handle}-{8 hex}: deterministic, so a retry finds what it made
    department: str
    location: str  # the department's AWS OU path or GCP folder
    members: tuple[Member, ...]
    tags: dict[str, str]  # desired cost tags; providers sanitise to their cloud's rules
    budget_usd: Decimal | None = None
    thresholds: tuple[Threshold, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)  # the template's provider section


@dataclass(frozen=True)
class Placement:
    """Where a sandbox lives in its cloud."""

    cloud_id: str  # AWS account id or GCP project id
    location: str = ""


@dataclass(frozen=True)
class ManagedResource:
    """An account or project found in a managed OU or folder."""

    cloud_id: str
    name: str
    location: str
    state: str  # "active", "closed" (or suspended / delete requested)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SpendReport:
    """Daily spend per cloud id over [start, end); None means the cloud does not know."""

    by_cloud_id: dict[str, dict[date, Decimal] | None]
    start: date
    end: date
    requests: int = 0  # cloud API requests made (Cost Explorer bills each one)


class StepStore(Protocol):
    """Durable memory of one sandbox's steps; every write is committed on return."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any) -> None: ...

    def get_secret(self, member_email: str, name: str) -> str | None: ...

    def put_secret(self, member_email: str, name: str, value: str) -> None: ...

    def progress(self, message: str) -> None: ...


class Provider(Protocol):
    name: str

    def bootstrap(self) -> list[str]:
        """Create, idempotently, the OUs or folders the config names; describe each."""

    def provision(self, plan: Plan, steps: StepStore) -> Placement:
        """Run (or resume) every step that builds the sandbox and grants its members."""

    def grant(self, placement: Placement, plan: Plan, member: Member, steps: StepStore) -> None:
        """Give one member access (create it, or restore it after a revoke)."""

    def revoke(self, placement: Placement, plan: Plan, member: Member) -> None:
        """Take one member's access away but keep what it owns."""

    def freeze(self, placement: Placement, plan: Plan) -> None:
        """Move the sandbox where frozen sandboxes live (members are revoked separately)."""

    def unfreeze(self, placement: Placement, plan: Plan) -> None:
        """Move it back to its department (members are granted separately)."""

    def tag(self, placement: Placement, tags: dict[str, str]) -> None:
        """Set the cost tags / labels (sanitised by the provider)."""

    def read_tags(self, placement: Placement) -> dict[str, str]:
        """The tags / labels as the cloud holds them."""

    def desired_tags(self, tags: dict[str, str]) -> dict[str, str]:
        """The tags as they will look in this cloud once sanitised (for drift checks)."""

    def spend(self, placements: list[Placement], start: date, end: date) -> SpendReport:
        """Spend per day in [start, end) for many sandboxes in as few requests as possible."""

    def destroy(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Remove access, then close the account / delete the project. Idempotent.

        Returns what the cloud now says about it (for the audit event), e.g. the AWS
        account status or the GCP project's DELETE_REQUESTED state and purge date.
        """

    def list_managed(self) -> list[ManagedResource]:
        """Every account or project in the managed OUs or folders."""

    def access_info(self, placement: Placement, plan: Plan, member: Member,
                    steps: StepStore) -> dict[str, Any]:
        """How `member` reaches the sandbox (URL, user name, password, roles)."""


def load_provider(name: str, settings: Any) -> Provider:
    """Import the provider module on first use and build it from its config section."""
    from sandbox.errors import ConfigError

    try:
        module_name, class_name = PROVIDER_CLASSES[name].split(":")
    except KeyError:
        raise ConfigError(
            f"unknown provider {name!r}; known providers: {', '.join(sorted(PROVIDER_CLASSES))}"
        ) from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings)
