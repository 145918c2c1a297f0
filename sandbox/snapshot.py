"""What a sandbox keeps of its template from the request on (the Sandbox.plan column).

Later edits to the template file must not change a sandbox that exists: a retried
provision builds what was asked for, and an extension obeys the limits it was given.
The budget is not here: Sandbox.budget_usd is its one place, as the reports sum it in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sandbox.errors import SchemaOutdatedError
from sandbox.provider import Threshold

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class TemplateSnapshot:
    max_ttl: timedelta
    max_extensions: int
    grace_period: timedelta  # from frozen to deleted
    thresholds: tuple[Threshold, ...]
    spec: dict[str, Any]  # the template's provider section ([aws] or [gcp])
    version: int = SNAPSHOT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "max_ttl_seconds": int(self.max_ttl.total_seconds()),
            "max_extensions": self.max_extensions,
            "grace_period_seconds": int(self.grace_period.total_seconds()),
            "thresholds": [{"percent": t.percent, "action": t.action} for t in self.thresholds],
            "spec": self.spec,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TemplateSnapshot:
        version = data.get("version")
        if version != SNAPSHOT_VERSION:
            raise SchemaOutdatedError(
                f"a sandbox's template snapshot has version {version!r}, this version of sandbox reads "
                f"version {SNAPSHOT_VERSION}; run: sandbox db upgrade")
        return cls(
            max_ttl=timedelta(seconds=data["max_ttl_seconds"]),
            max_extensions=data["max_extensions"],
            grace_period=timedelta(seconds=data["grace_period_seconds"]),
            thresholds=tuple(Threshold(percent=t["percent"], action=t["action"]) for t in data["thresholds"]),
            spec=data["spec"],
        )
