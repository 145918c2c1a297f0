"""The [gcp] config table."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.provider import join_location


@dataclass
class GcpSettings:
    endpoint: str = ""  # empty: real Google APIs with Application Default Credentials
    organization: str = "organizations/100000000001"
    billing_account: str = ""  # billingAccounts/XXXXXX-XXXXXX-XXXXXX
    active_folder: str = "sandbox/active"  # a path under the organization, or folders/N
    frozen_folder: str = "sandbox/frozen"
    poll_seconds: float = 2.0
    poll_timeout_seconds: float = 300.0
    max_attempts: int = 6
    concurrency: int = 8
    departments: dict[str, str] = field(default_factory=dict)  # filled from [departments.X] gcp_folder

    def department_location(self, department: str) -> str | None:
        """`folders/N`, or a path from the organization; a relative one lives under active_folder."""
        return join_location(self.active_folder, self.departments.get(department), ("/", "folders/"))

    def managed_folders(self) -> list[str]:
        departments = [self.department_location(d) for d in self.departments]
        folders = [self.active_folder, *departments, self.frozen_folder]
        return list(dict.fromkeys(f for f in folders if f))
