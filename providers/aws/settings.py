"""The [aws] config table."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.provider import join_location

# Roles the pool's cleaner keeps (globs); the access role is always kept besides.
DEFAULT_PROTECTED_ROLES = ["OrganizationAccountAccessRole", "AWSReservedSSO_*", "aws-controltower-*",
                           "stacksets-exec-*"]


@dataclass
class AwsPoolSettings:
    """[aws.pool]: member accounts leased, cleaned and leased again instead of closed.
    Off while max_size is 0 (the default): every AWS sandbox then creates and closes its account."""

    min_ready: int = 0  # the pool job keeps this many ready, creating accounts when short
    max_size: int = 0  # accounts the pool may hold in all (0: no pool)
    regions: list[str] = field(default_factory=list)  # where the cleaner works; empty: [aws] allowed_regions or region
    cleanup_passes: int = 2  # consecutive clean passes before an account is ready again
    quarantine_after: int = 3  # failed passes in a row before it is quarantined
    protected_roles: list[str] = field(default_factory=lambda: list(DEFAULT_PROTECTED_ROLES))
    ready_ou: str = "/sandbox/pool/ready"
    leased_ou: str = "/sandbox/pool/leased"
    cleaning_ou: str = "/sandbox/pool/cleaning"
    quarantined_ou: str = "/sandbox/pool/quarantined"
    email_pattern: str = ""  # root e-mail of a pool account; empty: [aws] email_pattern with name pool-<n>

    @property
    def enabled(self) -> bool:
        return self.max_size > 0

    def ous(self) -> dict[str, str]:
        """Pool state -> its OU path."""
        return {"ready": self.ready_ou, "leased": self.leased_ou, "cleaning": self.cleaning_ou,
                "quarantined": self.quarantined_ou}


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
    pool: AwsPoolSettings = field(default_factory=AwsPoolSettings)

    def cleaner_regions(self) -> list[str]:
        return list(self.pool.regions or self.allowed_regions or [self.region])

    def department_location(self, department: str) -> str | None:
        """Absolute OU path; a relative one (\"engineering\") lives under active_ou."""
        return join_location(self.active_ou, self.departments.get(department), ("/",))

    def managed_ous(self) -> list[str]:
        located = (self.department_location(d) for d in self.departments)
        departments = [path for path in located if path is not None]  # each has one: see parse_settings
        return list(dict.fromkeys([self.active_ou, *departments, self.frozen_ou, self.closed_ou]))
