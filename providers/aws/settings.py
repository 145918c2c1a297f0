"""The [aws] config table."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.provider import join_location


@dataclass
class AwsSettings:
    endpoint_url: str = ""  # empty: real AWS
    region: str = "us-east-1"
    profile: str = ""
    access_role: str = "OrganizationAccountAccessRole"
    email_pattern: str = "aws+{name}@example.com"
    active_ou: str = "/sandbox/active"  # relative department OUs live under it
    frozen_ou: str = "/sandbox/frozen"
    closed_ou: str = "/sandbox/closed"
    max_attempts: int = 8  # botocore retries (throttling, 5xx) per call
    poll_seconds: float = 5.0  # DescribeCreateAccountStatus interval
    poll_timeout_seconds: float = 900.0
    concurrency: int = 4  # CreateAccount calls at once per process: Organizations allows few
    allowed_regions: list[str] = field(default_factory=list)  # empty: every region (the guardrail SCP)
    protected_users: list[str] = field(default_factory=list)  # IAM user names (globs) a freeze leaves alone
    departments: dict[str, str] = field(default_factory=dict)  # filled from [departments.X] aws_ou

    def department_location(self, department: str) -> str | None:
        """Absolute OU path; a relative one (\"engineering\") lives under active_ou."""
        return join_location(self.active_ou, self.departments.get(department), ("/",))

    def managed_ous(self) -> list[str]:
        located = (self.department_location(d) for d in self.departments)
        departments = [path for path in located if path is not None]  # each has one: see parse_settings
        return list(dict.fromkeys([self.active_ou, *departments, self.frozen_ou, self.closed_ou]))
