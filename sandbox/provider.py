"""The contract every cloud implements, the data that crosses it, and the registry.

A cloud is one package that describes itself with a `Cloud` and registers it in the
`sandbox.providers` entry-point group (see pyproject.toml); core reads clouds only from
here and never names one.

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
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from sandbox.fields import TableReader

ENTRY_POINT_GROUP = "sandbox.providers"


@dataclass(frozen=True)
class Cloud:
    """What a provider package tells core about its cloud.

    `settings` is the dataclass of the cloud's config table ([name]); it has a
    `departments` dict (department → the value of `placement_key` in [departments.X]),
    `department_location(department)`, and `concurrency`. Its module, like this one,
    must import no cloud SDK: the provider class is imported on first use.
    """

    name: str  # the config table, and `provider = "..."` in a template
    title: str  # how messages name the cloud: "AWS"
    settings: type
    provider_class: str  # "module:Class", built from the settings object
    placement_key: str  # its key in [departments.NAME]: where that department's sandboxes live
    read_spec: Callable[["TableReader", str], dict[str, Any]]  # a template's [name] table, kind → spec
    stores_secrets: bool = False  # its sandboxes carry passwords or keys: requests need the secrets key
    spend_source: str = ""  # its cost samples' `source` (where spend is read); "": the cloud's name
    cloud_id_steps: tuple[str, ...] = ()  # step keys holding the cloud id before it is recorded
    close_steps: tuple[str, ...] = ()  # step keys destroy saves once it asked the cloud to close / delete
    gone_codes: frozenset[str] = frozenset()  # ProviderError codes meaning "the cloud no longer has it"
    emulator: str = ""  # "module:function(host, port)" for `sandbox emulator NAME`
    emulator_port: int = 0

    def build(self, settings: Any) -> "Provider":
        module_name, class_name = self.provider_class.split(":")
        return getattr(importlib.import_module(module_name), class_name)(settings)

    def serve_emulator(self, host: str, port: int | None) -> None:
        from sandbox.errors import UsageError

        if not self.emulator:
            raise UsageError(f"{self.title} has no local emulator")
        module_name, function = self.emulator.split(":")
        getattr(importlib.import_module(module_name), function)(host, self.emulator_port if port is None else port)

    def cloud_id_from(self, progress: dict[str, Any]) -> str | None:
        return next((str(progress[key]) for key in self.cloud_id_steps if progress.get(key)), None)


def join_location(base: str, path: str | None, absolute: tuple[str, ...]) -> str | None:
    """A department's location: `path` itself when it starts with one of `absolute`, else
    `path` under `base` (the cloud's active OU or folder); None when it has none."""
    if not path:
        return None
    if path.startswith(absolute):
        return path
    return f"{base.rstrip('/')}/{path}"


@cache
def clouds() -> dict[str, Cloud]:
    """Every installed cloud by name, read once per process from the entry points."""
    found: dict[str, Cloud] = {}
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        cloud = point.load()
        if not isinstance(cloud, Cloud) or cloud.name != point.name:
            raise TypeError(f"entry point {point.value} ({ENTRY_POINT_GROUP}) must be a Cloud named {point.name!r}")
        found.setdefault(cloud.name, cloud)  # the same distribution seen twice on sys.path
    return found


def cloud_named(name: str) -> Cloud:
    from sandbox.errors import ConfigError

    try:
        return clouds()[name]
    except KeyError:
        raise ConfigError(f"unknown cloud {name!r}; installed: {', '.join(clouds()) or 'none'}") from None


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

    def freeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Leave nobody but this tool able to act in the sandbox; keep what it holds.

        Moves it where frozen sandboxes live and takes away every access that is not ours
        (whoever granted it: the sandbox's own user may have added principals), in the
        order that makes the freeze hold soonest. Idempotent; each cloud change is saved
        in `steps` under a "freeze:" key, so a retry resumes and a crash loses nothing.
        Returns what it did, for the freeze event: at least "location", where the sandbox now
        is (`show` reads it); a "tampering" entry (one line) when it found enforcement's own
        access undone (core records a compliance finding).
        """

    def unfreeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Give back exactly the template's access to `plan.members`, then move the sandbox
        back to its department, last: until that move, it is still frozen. Clears the
        "freeze:" steps. Returns what it did, for the event."""

    def tag(self, placement: Placement, tags: dict[str, str]) -> dict[str, str]:
        """Set the cost tags / labels (sanitised by the provider). Keys someone else added
        stay, unless the cloud's limits leave our keys no room: then theirs are dropped and
        returned (key → the value it had), for the event. {} otherwise."""

    def read_tags(self, placement: Placement) -> dict[str, str]:
        """The tags / labels as the cloud holds them."""

    def desired_tags(self, tags: dict[str, str]) -> dict[str, str]:
        """The tags as they will look in this cloud once sanitised (for drift checks)."""

    def spend(self, placements: list[Placement], start: date, end: date) -> SpendReport:
        """Spend per day in [start, end) for many sandboxes in as few requests as possible."""

    def destroy(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Remove access, then close the account / delete the project. Idempotent.

        Never depends on access the sandbox's user could have removed (the AWS access role):
        what cannot be reached is skipped and reported as "tampering", and the close goes on.
        Returns what the cloud now says about it (for the audit event), e.g. the AWS
        account status or the GCP project's DELETE_REQUESTED state and purge date.
        """

    def list_managed(self) -> list[ManagedResource]:
        """Every account or project in the managed OUs or folders."""

    def check_guardrails(self) -> dict[str, str]:
        """The cloud-wide controls enforcement relies on (AWS service control policies)
        that are missing or out of date: where (an OU path) → what is wrong. {}: all in place."""

    def access_info(self, placement: Placement, plan: Plan, member: Member,
                    steps: StepStore) -> dict[str, Any]:
        """How `member` reaches the sandbox (URL, user name, password, roles)."""


POOL_STATES = ("ready", "leased", "cleaning", "quarantined")


class AccountPool(Protocol):
    """Optional capability: a cloud whose accounts can be cleaned and leased again instead of
    closed (AWS, whose CloseAccount quota is 10% of the organization per 30 days). Core
    keeps the pool's bookkeeping (sandbox.service.pool); the provider only acts in the cloud.
    `account_pool(provider)` returns the provider when it has the capability and it is on."""

    def pool_enabled(self) -> bool:
        """The cloud's config turns the pool on."""

    def pool_bootstrap(self) -> list[str]:
        """Create, idempotently, where each pool state lives (OUs) and its guardrails."""

    def pool_create(self, name: str) -> str:
        """Create an account for the pool (or find the one an interrupted call made, by the
        deterministic `name`), placed where cleaning accounts live; returns its id."""

    def pool_move(self, cloud_id: str, state: str) -> None:
        """Place the account where accounts in `state` (one of POOL_STATES) live."""

    def pool_clean(self, cloud_id: str, dry_run: bool = False) -> dict[str, Any]:
        """One clean pass: {"clean": bool, "deleted": [...], "failed": {name: why}, "left": [...]}."""

    def pool_release(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """A leased account's destroy: access revoked and placed for cleaning, not closed."""

    def pool_retire(self, cloud_id: str) -> dict[str, Any]:
        """Close the account on purpose (within the cloud's close quota)."""


def account_pool(provider: Any) -> AccountPool | None:
    """The provider as an AccountPool when it implements one that its config turns on."""
    enabled = getattr(provider, "pool_enabled", None)
    return provider if callable(enabled) and enabled() else None
