"""ToyProvider: one sandbox = one JSON file, <root>/<location>/<resource id>.json.

A location is a directory; moving a sandbox (freeze, unfreeze) moves its file. Files are
replaced whole (write, then rename), so another process never reads half of one.

Step keys this provider keeps in the StepStore:
  resource_id       the id, chosen from the plan's name and saved BEFORE the file is made
  created           True once the file exists
  tagged            True once the cost tags are set
  member:<email>    True once that member has access
  closed            True once destroy marked the file deleted (CLOUD.close_steps:
                    reconcile reads it as "our own teardown closed it")
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from sandbox.errors import ConfigError, ProviderError
from sandbox.provider import ManagedResource, Member, Placement, Plan, SpendReport, StepStore
from sandbox_toycloud.settings import ToySettings

_ID = re.compile(r"^[a-z0-9-]{1,64}$")
MAX_TAG_VALUE = 64  # the toy cloud's one tag rule, so desired_tags is not the identity


class ToyProvider:
    name = "toy"

    def __init__(self, settings: ToySettings):
        if not settings.root:
            raise ConfigError("[toy] root is empty; set it to the directory that plays the toy cloud")
        self.settings = settings
        self.root = Path(settings.root)

    # -- locations ------------------------------------------------------------------------

    def bootstrap(self) -> list[str]:
        lines = []
        for location in self.settings.managed_locations():
            directory = self.root / location
            lines.append(f"{'exists' if directory.is_dir() else 'created'} location {location}")
            directory.mkdir(parents=True, exist_ok=True)
        return lines

    def _location_dir(self, location: str) -> Path:
        directory = self.root / location
        if not directory.is_dir():
            raise ProviderError(f"toy location {location} does not exist; run: sandbox admin bootstrap",
                                code="LOCATION_MISSING")
        return directory

    # -- provision ------------------------------------------------------------------------

    def provision(self, plan: Plan, steps: StepStore) -> Placement:
        resource_id = steps.get("resource_id")
        if resource_id is None:
            resource_id = f"toy-{plan.name}"
            if not _ID.match(resource_id):
                raise ProviderError(f"{resource_id!r} cannot name a toy resource", code="INVALID_ARGUMENT")
            steps.put("resource_id", resource_id)
        placement = Placement(cloud_id=resource_id, location=plan.location)
        if not steps.get("created"):
            steps.progress(f"creating {resource_id} in {plan.location}")
            self._create(placement, plan)
            steps.put("created", True)
        if not steps.get("tagged"):
            self.tag(placement, plan.tags)
            steps.put("tagged", True)
        for member in plan.members:
            key = f"member:{member.email}"
            if not steps.get(key):
                self.grant(placement, plan, member, steps)
                steps.put(key, True)
        return placement

    def _create(self, placement: Placement, plan: Plan) -> None:
        existing = self._find(placement.cloud_id)
        if existing is not None:  # a resumed provision: the file made before the crash is ours
            if self._read(existing)["sandbox_id"] != plan.sandbox_id:
                raise ProviderError(f"toy resource {placement.cloud_id} belongs to another sandbox",
                                    code="ALREADY_EXISTS")
            return
        self._write(self._location_dir(plan.location) / f"{placement.cloud_id}.json", {
            "id": placement.cloud_id, "name": plan.name, "sandbox_id": plan.sandbox_id,
            "state": "active", "tags": {}, "members": {}})

    # -- members --------------------------------------------------------------------------

    def grant(self, placement: Placement, plan: Plan, member: Member, steps: StepStore) -> None:
        role = plan.spec["owner_role"] if member.role == "owner" else plan.spec["member_role"]

        def give_access(resource: dict[str, Any]) -> None:
            resource["members"][member.email] = {"role": role, "access": True}

        self._update(placement.cloud_id, give_access)

    def revoke(self, placement: Placement, plan: Plan, member: Member) -> None:
        def take_access(resource: dict[str, Any]) -> None:
            if member.email in resource["members"]:
                resource["members"][member.email]["access"] = False

        self._update(placement.cloud_id, take_access)

    def access_info(self, placement: Placement, plan: Plan, member: Member,
                    steps: StepStore) -> dict[str, Any]:
        path = self._require(placement.cloud_id)
        granted = self._read(path)["members"].get(member.email, {})
        return {"resource_id": placement.cloud_id, "file": str(path),
                "role": granted.get("role"), "access": granted.get("access", False)}

    # -- moves ----------------------------------------------------------------------------

    def freeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Into the frozen location, then access taken from everyone the file lists."""
        if not steps.get("freeze:moved"):
            self._move(placement.cloud_id, self.settings.frozen_location)
            steps.put("freeze:moved", True)
        revoked: list[str] = []

        def take_all(resource: dict[str, Any]) -> None:
            for email, granted in resource["members"].items():
                if granted["access"]:
                    granted["access"] = False
                    revoked.append(email)

        self._update(placement.cloud_id, take_all)
        return {"location": self.settings.frozen_location, "revoked": sorted(revoked)}

    def unfreeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        for member in plan.members:
            self.grant(placement, plan, member, steps)
        self._move(placement.cloud_id, plan.location)
        steps.put("freeze:moved", None)
        return {"location": plan.location}

    def _move(self, resource_id: str, location: str) -> None:
        path = self._require(resource_id)
        target = self._location_dir(location) / path.name
        if target != path:
            os.replace(path, target)

    # -- tags -----------------------------------------------------------------------------

    def desired_tags(self, tags: dict[str, str]) -> dict[str, str]:
        return {key: value[:MAX_TAG_VALUE] for key, value in tags.items()}

    def tag(self, placement: Placement, tags: dict[str, str]) -> dict[str, str]:
        """Our keys take the desired values; keys someone else added stay (no tag limit here)."""
        self._update(placement.cloud_id, lambda r: r["tags"].update(self.desired_tags(tags)))
        return {}

    def read_tags(self, placement: Placement) -> dict[str, str]:
        return dict(self._read(self._require(placement.cloud_id))["tags"])

    # -- spend ----------------------------------------------------------------------------

    def spend(self, placements: list[Placement], start: date, end: date) -> SpendReport:
        """Nothing in the toy cloud costs money: every day of every sandbox is 0."""
        days = [start + timedelta(days=n) for n in range(max((end - start).days, 0))]
        return SpendReport(by_cloud_id={p.cloud_id: {day: Decimal(0) for day in days} for p in placements},
                           start=start, end=end)

    # -- the end --------------------------------------------------------------------------

    def destroy(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Access taken from everyone, the file kept as `deleted` (as a closed account stays)."""
        path = self._find(placement.cloud_id)
        if path is None:
            return {"resource_id": placement.cloud_id, "resource_state": "NOT_FOUND"}

        def delete(resource: dict[str, Any]) -> None:
            for granted in resource["members"].values():
                granted["access"] = False
            resource["state"] = "deleted"

        self._update(placement.cloud_id, delete)
        steps.put("closed", True)
        return {"resource_id": placement.cloud_id, "resource_state": "deleted"}

    def check_guardrails(self) -> dict[str, str]:
        """The toy cloud has no cloud-wide controls."""
        return {}

    def list_managed(self) -> list[ManagedResource]:
        found = []
        for location in self.settings.managed_locations():
            for path in sorted((self.root / location).glob("*.json")):
                resource = self._read(path)
                found.append(ManagedResource(
                    cloud_id=resource["id"], name=resource["name"], location=location,
                    state="active" if resource["state"] == "active" else "closed", tags=resource["tags"]))
        return found

    # -- files ----------------------------------------------------------------------------

    def _find(self, resource_id: str) -> Path | None:
        """Wherever the file is, inside the managed locations or not."""
        return next(self.root.rglob(f"{resource_id}.json"), None)

    def _require(self, resource_id: str) -> Path:
        path = self._find(resource_id)
        if path is None:
            raise ProviderError(f"toy resource {resource_id} does not exist", code="NOT_FOUND")
        return path

    def _read(self, path: Path) -> dict[str, Any]:
        return json.loads(path.read_text(encoding="utf-8"))

    def _write(self, path: Path, resource: dict[str, Any]) -> None:
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(resource, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(partial, path)

    def _update(self, resource_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        path = self._require(resource_id)
        resource = self._read(path)
        change(resource)
        self._write(path, resource)
