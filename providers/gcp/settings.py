"""The [gcp] config table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox.provider import join_location

# The emulator's default caller (sandbox.emulators.gcp DEFAULT_CALLER): an endpoint means
# anonymous credentials, which carry no e-mail of their own.
EMULATOR_SERVICE_ACCOUNT = "sandbox-cloud@sandbox-admin.iam.gserviceaccount.com"


@dataclass
class GcpSettings:
    endpoint: str = ""  # empty: real Google APIs with Application Default Credentials
    organization: str = "organizations/100000000001"
    billing_account: str = ""  # billingAccounts/XXXXXX-XXXXXX-XXXXXX
    # PROJECT.DATASET.gcp_billing_export_v1_XXXXXX, the Cloud Billing export that spend is
    # read from (billing_export.py); empty: every project's spend is unknown.
    billing_export_table: str = ""
    active_folder: str = "sandbox/active"  # a path under the organization, or folders/N
    frozen_folder: str = "sandbox/frozen"
    # Who this tool acts as, kept when a freeze takes every other principal's access away:
    # a service account's e-mail (or a full principal, "user:ops@example.com"). Empty: the
    # e-mail the credentials carry (a key file, workload identity, impersonation), or with
    # an endpoint (the emulator) the emulator's default caller, EMULATOR_SERVICE_ACCOUNT.
    service_account: str = ""
    freeze_unlinks_billing: bool = False  # a freeze also detaches billing (unfreeze relinks it)
    poll_seconds: float = 2.0
    poll_timeout_seconds: float = 300.0
    max_attempts: int = 6
    concurrency: int = 8
    departments: dict[str, str] = field(default_factory=dict)  # filled from [departments.X] gcp_folder

    def __post_init__(self) -> None:
        if self.billing_export_table.strip():
            split_table(self.billing_export_table)  # a malformed name fails when the config loads

    def department_location(self, department: str) -> str | None:
        """`folders/N`, or a path from the organization; a relative one lives under active_folder."""
        return join_location(self.active_folder, self.departments.get(department), ("/", "folders/"))

    def managed_folders(self) -> list[str]:
        departments = [self.department_location(d) for d in self.departments]
        folders = [self.active_folder, *departments, self.frozen_folder]
        return list(dict.fromkeys(f for f in folders if f))


# PROJECT.DATASET.TABLE; a project may be domain-scoped ("example.com:proj"), and no part
# may hold a backtick (the name is quoted with backticks in the SQL, never a parameter).
_TABLE = re.compile(r"^(?P<project>(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]*[a-z0-9])"
                    r"\.(?P<dataset>\w{1,1024})\.(?P<table>[^.`\s][^.`]*)$")


def split_table(name: str) -> tuple[str, str, str]:
    """(project, dataset, table) of a BigQuery table name; a ConfigError if it is not one."""
    from sandbox.errors import ConfigError

    found = _TABLE.match(name.strip())
    if not found:
        raise ConfigError(f"[gcp] billing_export_table {name!r} must be PROJECT.DATASET.TABLE, e.g. "
                          "billing-admin.billing.gcp_billing_export_v1_012345_6789AB_CDEF01")
    return found["project"], found["dataset"], found["table"]
