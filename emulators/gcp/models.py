"""The resources the emulator keeps, and their JSON form on the wire.

Only fields the installed client protos know are rendered: the gapic operations
client parses polled operations with ``ignore_unknown_fields=False``, so an
extra field inside ``Operation.response`` breaks ``operation.result()``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ACTIVE = "ACTIVE"
DELETE_REQUESTED = "DELETE_REQUESTED"

RM_TYPE = "type.googleapis.com/google.cloud.resourcemanager.v3."
WITHCOND = "_withcond_"  # marks a conditional binding's role in a version-1 policy
SU_TYPE = "type.googleapis.com/google.api.serviceusage.v1."


def timestamp() -> str:
    """RFC 3339 UTC with microseconds, as Google renders google.protobuf.Timestamp."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _weak_etag(*parts: Any) -> str:
    digest = hashlib.sha1(repr(parts).encode()).hexdigest()[:16]
    return f'W/"{digest}"'


@dataclass
class Organization:
    name: str  # organizations/N
    display_name: str = "sandbox.example.com"
    create_time: str = field(default_factory=timestamp)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "directoryCustomerId": "C0emulat0r",
            "state": ACTIVE,
            "createTime": self.create_time,
            "updateTime": self.create_time,
            "etag": _weak_etag(self.name),
        }


@dataclass
class Folder:
    name: str  # folders/N
    parent: str
    display_name: str
    state: str = ACTIVE
    create_time: str = field(default_factory=timestamp)
    update_time: str = ""
    delete_time: str = ""

    def to_json(self) -> dict[str, Any]:
        doc = {
            "name": self.name,
            "parent": self.parent,
            "displayName": self.display_name,
            "state": self.state,
            "createTime": self.create_time,
            "updateTime": self.update_time or self.create_time,
            "etag": _weak_etag(self.name, self.display_name, self.state, self.update_time),
        }
        if self.delete_time:
            doc["deleteTime"] = self.delete_time
        return doc


@dataclass
class Project:
    project_id: str
    number: str
    parent: str
    display_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    state: str = ACTIVE
    create_time: str = field(default_factory=timestamp)
    update_time: str = ""
    delete_time: str = ""
    # Deletion "completed" (30 days later in GCP): invisible, but the id stays taken.
    purged: bool = False
    iam_bindings: list[dict[str, Any]] = field(default_factory=list)
    iam_audit_configs: list[dict[str, Any]] = field(default_factory=list)
    iam_revision: int = 1
    billing_account: str = ""
    enabled_services: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return f"projects/{self.number}"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "parent": self.parent,
            "projectId": self.project_id,
            "state": self.state,
            "displayName": self.display_name,
            "createTime": self.create_time,
            "updateTime": self.update_time or self.create_time,
            "etag": _weak_etag(self.number, self.display_name, sorted(self.labels.items()), self.state),
        }
        for optional in ("parent", "displayName"):  # proto3 JSON omits empty strings
            if not doc[optional]:
                del doc[optional]
        if self.delete_time:
            doc["deleteTime"] = self.delete_time
        if self.labels:
            doc["labels"] = dict(self.labels)
        return doc

    def iam_etag(self) -> str:
        # Real etags are 8 opaque bytes, base64 (e.g. "BwYx2Ly4Ax0="); the gapic
        # client decodes them as bytes, so they must be valid base64.
        return base64.b64encode(self.iam_revision.to_bytes(8, "big")).decode()

    def iam_policy(self, requested_version: int = 3) -> dict[str, Any]:
        """The allow policy as getIamPolicy renders it for `requested_version`.

        A policy with conditional bindings is version 3. Asked for an older version,
        Google leaves the conditions out and marks each such binding's role with
        "_withcond_" and a hash, so a version-1 read-modify-write cannot silently drop
        them (writing such a role back is refused)
        (https://cloud.google.com/iam/docs/policies#versions).
        """
        has_conditions = any("condition" in b for b in self.iam_bindings)
        version = 3 if has_conditions else 1
        policy: dict[str, Any] = {"version": version, "etag": self.iam_etag()}
        bindings = [dict(b, members=list(b["members"])) for b in self.iam_bindings]
        if has_conditions and requested_version < 3:
            policy["version"] = 1
            for binding in bindings:
                condition = binding.pop("condition", None)
                if condition is not None:
                    digest = hashlib.sha1(repr(sorted(condition.items())).encode()).hexdigest()[:20]
                    binding["role"] = f"{binding['role']}{WITHCOND}{digest}"
        if bindings:
            policy["bindings"] = bindings
        if self.iam_audit_configs:
            policy["auditConfigs"] = list(self.iam_audit_configs)
        return policy

    def grant(self, role: str, member: str) -> None:
        """Add `member` to the role's unconditional binding (as Google does for a
        service agent when its service is enabled)."""
        binding = next((b for b in self.iam_bindings if b["role"] == role and "condition" not in b), None)
        if binding is None:
            binding = {"role": role, "members": []}
            self.iam_bindings.append(binding)
            self.iam_bindings.sort(key=lambda b: (b["role"], repr(b.get("condition"))))
        if member in binding["members"]:
            return
        binding["members"] = sorted([*binding["members"], member])
        self.iam_revision += 1


@dataclass
class BillingAccount:
    name: str  # billingAccounts/XXXXXX-XXXXXX-XXXXXX
    display_name: str = "Sandbox billing"
    open: bool = True
    currency_code: str = "USD"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "open": self.open,
            "displayName": self.display_name,
            "masterBillingAccount": "",
            "currencyCode": self.currency_code,
        }


@dataclass
class Operation:
    """A long-running operation; done once it has been polled enough times."""

    name: str  # operations/<id>
    api: str  # "v3" (resource manager) or "v1" (serviceusage): where it can be polled
    polls_before_done: int
    metadata: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    polls: int = 0

    @property
    def done(self) -> bool:
        return self.polls >= self.polls_before_done

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name}
        if self.metadata is not None:
            doc["metadata"] = self.metadata
        if self.done:
            doc["done"] = True
            if self.error is not None:
                doc["error"] = self.error
            else:
                doc["response"] = self.response if self.response is not None else {
                    "@type": "type.googleapis.com/google.protobuf.Empty"}
        return doc


_OP_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def is_operation_id(value: str) -> bool:
    return bool(_OP_ID.match(value))
