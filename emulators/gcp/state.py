"""The emulator's whole world, in memory, behind one lock."""

from __future__ import annotations

import copy
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .bqengine import Engine
from .catalog import KNOWN_SERVICES
from .models import (ACTIVE, BillingAccount, Folder, Operation, Organization,
                     Project)

DEFAULT_ORGANIZATION = "organizations/123456789012"
DEFAULT_BILLING_ACCOUNT = "billingAccounts/000000-000000-000001"
# Who the emulator believes is calling: GCP makes the creator of a project its
# owner, so a new project's policy starts with this member as roles/owner.
DEFAULT_CALLER = "serviceAccount:sandbox-cloud@sandbox-admin.iam.gserviceaccount.com"
DEFAULT_POLLS_BEFORE_DONE = 1
# Numbers look like real ones (12 digits) and are deterministic after a reset.
FIRST_PROJECT_NUMBER = 100000000001
FIRST_FOLDER_NUMBER = 200000000001


@dataclass
class Settings:
    organization: str = DEFAULT_ORGANIZATION
    billing_accounts: tuple[str, ...] = (DEFAULT_BILLING_ACCOUNT,)
    caller: str = DEFAULT_CALLER
    polls_before_done: int = DEFAULT_POLLS_BEFORE_DONE
    latency_ms: int = 0
    bigquery_page_rows: int = 10_000  # rows per BigQuery result page (real BigQuery: up to 10 MB)
    known_services: dict[str, str] = field(default_factory=lambda: dict(KNOWN_SERVICES))
    # Check the caller's project-level roles on every project call (see access.py).
    # Off by default: most tests act as an all-powerful caller.
    enforce_iam: bool = False


@dataclass
class Fault:
    """An injected error: the next `count` requests matching method and path fail."""

    method: str  # "*" matches any
    path_regex: re.Pattern[str]
    count: int
    http_status: int = 503
    status: str | None = None  # Google status name; derived from http_status if absent
    message: str = "Injected fault."
    # Instead of failing the request, return an Operation that ends with this
    # google.rpc.Status ({"code": 6, "message": ...}) and change nothing.
    operation_error: dict[str, Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and bool(self.path_regex.search(path))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "path_regex": self.path_regex.pattern, "count": self.count,
            "status": self.http_status, "status_name": self.status, "message": self.message,
            "operation_error": self.operation_error,
        }


class EmulatorState:
    """Projects, folders, policies, billing, services, operations, faults, stats.

    Every request handler runs while holding ``lock``; tests reading state from
    another thread should hold it too.
    """

    def __init__(self, settings: Settings | None = None):
        self.lock = threading.RLock()
        self._defaults = settings or Settings()
        self.bigquery_engine = Engine()
        self.reset()

    def reset(self) -> None:
        """Back to the settings the emulator was started with."""
        with self.lock:
            self.settings = copy.deepcopy(self._defaults)
            self.organization = Organization(self.settings.organization)
            self.folders: dict[str, Folder] = {}
            self.projects: dict[str, Project] = {}
            self.billing_accounts = {
                name: BillingAccount(name) for name in self.settings.billing_accounts
            }
            self.operations: dict[str, Operation] = {}
            self.faults: list[Fault] = []
            self.stats: Counter[str] = Counter()
            # BigQuery: the billing-export tables (DuckDB) and the query jobs run on them.
            self.bigquery_engine.close()
            self.bigquery_jobs: dict[tuple[str, str], Any] = {}
            self._next_project_number = FIRST_PROJECT_NUMBER
            self._next_folder_number = FIRST_FOLDER_NUMBER
            self._next_operation = 1

    # -- identifiers ---------------------------------------------------------
    def new_project_number(self) -> str:
        number, self._next_project_number = self._next_project_number, self._next_project_number + 1
        return str(number)

    def new_folder_name(self) -> str:
        number, self._next_folder_number = self._next_folder_number, self._next_folder_number + 1
        return f"folders/{number}"

    def new_operation_id(self, prefix: str) -> str:
        number, self._next_operation = self._next_operation, self._next_operation + 1
        return f"{prefix}.{number:010d}"

    # -- lookups -------------------------------------------------------------
    def find_project(self, id_or_number: str) -> Project | None:
        """By project id or by project number; purged projects are gone."""
        project = self.projects.get(id_or_number)
        if project is None and id_or_number.isdigit():
            project = next((p for p in self.projects.values() if p.number == id_or_number), None)
        return None if project is None or project.purged else project

    def parent_exists(self, parent: str) -> bool:
        if parent == self.organization.name:
            return True
        folder = self.folders.get(parent)
        return folder is not None

    def purge_deleted_projects(self) -> list[str]:
        """Finish the deletion of DELETE_REQUESTED projects (30 days in GCP).

        Purged projects disappear from get/list/search, and their ids stay taken.
        """
        with self.lock:
            purged = [p for p in self.projects.values() if p.state != ACTIVE and not p.purged]
            for project in purged:
                project.purged = True
            return [p.project_id for p in purged]

    # -- faults --------------------------------------------------------------
    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    # -- inspection ----------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "organization": self.organization.to_json(),
                "folders": [f.to_json() for f in self.folders.values()],
                "projects": [dict(p.to_json(), purged=p.purged) for p in self.projects.values()],
                "iam_policies": {p.project_id: p.iam_policy() for p in self.projects.values()},
                "billing": {p.project_id: p.billing_account for p in self.projects.values()},
                "billing_accounts": [a.to_json() for a in self.billing_accounts.values()],
                "services": {p.project_id: sorted(p.enabled_services) for p in self.projects.values()},
                "operations": len(self.operations),
                "billing_export": self.bigquery_engine.row_counts(),
                "bigquery_jobs": len(self.bigquery_jobs),
                "faults": [f.to_json() for f in self.faults],
                "config": self.config_json(),
            }

    def config_json(self) -> dict[str, Any]:
        return {
            "polls_before_done": self.settings.polls_before_done,
            "latency_ms": self.settings.latency_ms,
            "bigquery_page_rows": self.settings.bigquery_page_rows,
            "organization": self.settings.organization,
            "caller": self.settings.caller,
            "enforce_iam": self.settings.enforce_iam,
            "known_services": dict(self.settings.known_services),
        }

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            return {"total": sum(self.stats.values()), "requests": dict(sorted(self.stats.items()))}
