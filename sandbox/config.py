"""TOML config → typed settings. Loaded once per command and passed in, never a global.

Lookup: `--config PATH`, else env SANDBOX_CONFIG, else ./sandbox.toml, else embedded
defaults (SQLite under the user's data directory, one `default` department).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from importlib import resources
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, get_args, get_origin, get_type_hints

from sandbox.durations import LabelledDuration, parse_duration
from sandbox.errors import ConfigError, UsageError

# Package data: templates/ in a checkout, sandbox/builtin_templates/ once installed. The
# package is installed unzipped, so its files are plain files with a path.
BUILTIN_TEMPLATES = Path(str(resources.files("sandbox.builtin_templates")))


@dataclass
class DatabaseSettings:
    url: str = ""  # empty: SQLite file under the user's data directory


@dataclass
class SecretsSettings:
    key: str = ""  # a Fernet key; env SANDBOX_SECRET_KEY wins
    key_file: str = ""  # or a file holding it


@dataclass
class IdentitySettings:
    email: str = ""  # env SANDBOX_USER wins; empty: <login>@localhost
    department: str = "default"  # env SANDBOX_DEPARTMENT wins


@dataclass
class AdminSettings:
    users: list[str] = field(default_factory=list)


@dataclass
class QuotaSettings:
    max_live_per_user: int = 3


@dataclass
class TemplateSettings:
    dirs: list[str] = field(default_factory=list)  # searched before the built-in ones


@dataclass
class DepartmentSettings:
    groups: list[str] = field(default_factory=list)  # IdP groups whose members belong here
    # Where the department's sandboxes live, by each cloud's placement key (aws_ou = "...").
    locations: dict[str, str] = field(default_factory=dict)


@dataclass
class ApprovalSettings:
    allow_self: bool = False  # may a manager or admin approve their own request?


@dataclass
class ServerSettings:
    url: str = ""  # a client's setting: where the server is (env SANDBOX_SERVER wins)
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # how browsers reach it (the OIDC redirect URI is built on it)
    workers: int = 1
    # Requests handled at once per worker process; each database pool keeps this many
    # connections open, so a busy server does not connect anew for every request.
    threads: int = 16
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    provision_on_request: bool = True  # start provisioning at once instead of waiting for the daemon
    session_secret: str = ""  # signs browser sessions; env SANDBOX_SESSION_SECRET wins; empty: derived from the secrets key


@dataclass
class AuthSettings:
    issuer: str = ""  # empty: no sign-in; the server refuses to start
    client_id: str = ""
    client_secret: str = ""  # env SANDBOX_OIDC_CLIENT_SECRET wins
    audience: list[str] = field(default_factory=list)  # empty: [client_id]
    email_claim: str = "email"
    groups_claim: str = "groups"
    department_claim: str = ""
    require_email_verified: bool = True  # Entra ID sends no email_verified: set false there
    allowed_domains: list[str] = field(default_factory=list)  # empty: any domain
    admin_groups: list[str] = field(default_factory=list)
    manager_groups: list[str] = field(default_factory=list)
    cli_client_id: str = ""  # the CLI's (public, PKCE) client; empty: client_id
    cli_client_secret: str = ""  # some issuers give installed apps a non-secret secret
    leeway_seconds: int = 60
    token_max_days: int = 90  # the longest a personal API token may live

    def client_secret_value(self) -> str:
        return os.environ.get("SANDBOX_OIDC_CLIENT_SECRET") or self.client_secret

    def audiences(self) -> list[str]:
        return self.audience or [c for c in dict.fromkeys([self.client_id, self.cli_client_id]) if c]

    def domain_allowed(self, email: str) -> bool:
        domain = email.rsplit("@", 1)[-1].lower()
        return not self.allowed_domains or domain in {d.lower() for d in self.allowed_domains}


@dataclass
class DaemonSettings:
    # One `<interval_key>` per job of sandbox.jobs.JOBS (tests/core/test_config.py checks it).
    provision_interval: timedelta = timedelta(seconds=30)
    expiry_interval: timedelta = timedelta(minutes=5)
    budget_interval: timedelta = timedelta(hours=6)
    tags_interval: timedelta = timedelta(hours=1)
    reconcile_interval: timedelta = timedelta(hours=1)
    pool_interval: timedelta = timedelta(minutes=5)  # the account pool: refill and clean
    notify_interval: timedelta = timedelta(minutes=1)
    warn_before: list[LabelledDuration] = field(default_factory=lambda: [
        LabelledDuration("3d", timedelta(days=3)), LabelledDuration("1d", timedelta(days=1))])
    max_attempts: int = 5
    retry_backoff: timedelta = timedelta(minutes=1)
    lease: timedelta = timedelta(minutes=15)
    metrics_port: int = 0  # 0: no HTTP endpoint


@dataclass
class NotifySettings:
    backend: str = "log"  # log | smtp | webhook
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "sandbox@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    webhook_url: str = ""
    max_attempts: int = 5


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    secrets: SecretsSettings = field(default_factory=SecretsSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    templates: TemplateSettings = field(default_factory=TemplateSettings)
    # The enabled clouds' tables by name: a cloud is on when its table is in the config
    # (with no config file at all, every installed cloud is, on its defaults).
    clouds: dict[str, Any] = field(default_factory=dict)
    departments: dict[str, DepartmentSettings] = field(default_factory=dict)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    source: str = "embedded defaults"

    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        from platformdirs import user_data_dir

        data_dir = Path(user_data_dir("sandbox-cloud"))
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{data_dir / 'sandbox.db'}"

    def cloud(self, name: str) -> Any:
        """An enabled cloud's settings; any other name is a ConfigError saying what to add."""
        if name not in self.clouds:
            from sandbox.provider import cloud_named

            cloud = cloud_named(name)
            raise ConfigError(f"{cloud.title} is not enabled here; add an [{name}] table to {self.source} "
                              "(a cloud is on when its table is in the config)")
        return self.clouds[name]

    def template_dirs(self) -> list[Path]:
        base = Path(self.source).parent if self.source.endswith(".toml") else Path.cwd()
        return [base / d for d in self.templates.dirs] + [BUILTIN_TEMPLATES]


def find_config_path(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found; check --config")
        return path
    env = os.environ.get("SANDBOX_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"config file {path} (from SANDBOX_CONFIG) not found")
        return path
    local = Path("sandbox.toml")
    return local if local.is_file() else None


def load_settings(explicit: str | None = None) -> Settings:
    path = find_config_path(explicit)
    if path is None:
        return parse_settings({}, "embedded defaults", every_cloud=True)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_settings(raw, str(path))


def parse_settings(raw: dict[str, Any], source: str, every_cloud: bool = False) -> Settings:
    """`every_cloud`: turn on every installed cloud, not only those with a table (the
    embedded defaults, when there is no config file)."""
    from sandbox.provider import clouds

    raw = dict(raw)  # the caller's dict stays whole: parsing it twice gives the same settings
    installed = clouds()
    tables = {name: raw.pop(name) for name in list(raw) if name in installed}
    if every_cloud:
        tables = {name: tables.get(name, {}) for name in installed}
    departments_raw = raw.pop("departments", None)
    settings = _build(Settings, raw, source, "", extra_keys=list(installed))
    settings.clouds = {name: _build(installed[name].settings, table, source, f"{name}.")
                       for name, table in tables.items()}
    if departments_raw is None:  # one department, its sandboxes in a "default" OU / folder
        departments_raw = {"default": {cloud.placement_key: "default" for cloud in installed.values()}}
    if not isinstance(departments_raw, dict):
        raise ConfigError(f"{source}: [departments] must be a table of tables")
    placement_keys = [cloud.placement_key for cloud in installed.values()]
    settings.departments = {name: _department(name, value, source, placement_keys)
                            for name, value in departments_raw.items()}
    settings.source = source
    for name, table in settings.clouds.items():
        key = installed[name].placement_key
        table.departments = {n: d.locations[key] for n, d in settings.departments.items() if d.locations.get(key)}
    return settings


def _department(name: str, raw: Any, source: str, placement_keys: list[str]) -> DepartmentSettings:
    if not name.strip() or len(name) > 64 or "\x00" in name:
        raise ConfigError(f"{source}: department name {name[:80]!r} must be 1-64 characters")
    prefix = f"departments.{name}."
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    raw = dict(raw)
    locations = {key: _check_type(raw.pop(key), str, source, prefix + key) for key in placement_keys if key in raw}
    department = _build(DepartmentSettings, raw, source, prefix, extra_keys=placement_keys)
    department.locations = locations
    return department


# Filled in by parse_settings, never read from a table of the same name.
_DERIVED = ("source", "departments", "clouds", "locations")


def _build(cls, raw: Any, source: str, prefix: str, extra_keys: Iterable[str] = ()):
    """`extra_keys`: what else the table may hold (taken out by the caller), for the error."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.name not in _DERIVED}
    values = {}
    for key, value in raw.items():
        if key not in known:
            expected = ", ".join(sorted(known | set(extra_keys)))
            raise ConfigError(f"{source}: unknown key {prefix}{key} (expected one of: {expected})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value, source, f"{prefix}{key}.")
        else:
            values[key] = _check_type(value, hint, source, f"{prefix}{key}")
    return cls(**values)


def _check_type(value: Any, hint: Any, source: str, key: str) -> Any:
    # TOML allows "\u0000" in strings; PostgreSQL text and file paths do not.
    if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
        raise ConfigError(f"{source}: {key} must not contain NUL characters")
    if get_origin(hint) is list:
        (item_type,) = get_args(hint)
        parse = _FROM_TEXT.get(item_type)
        expected = str if parse else item_type
        if not isinstance(value, list) or not all(isinstance(v, expected) for v in value):
            raise ConfigError(f"{source}: {key} must be a list of {expected.__name__}")
        return [_parse(item, parse, source, key) for item in value] if parse else value
    parse = _FROM_TEXT.get(hint)
    expected = str if parse else hint
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(
            f"{source}: {key} must be {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    return _parse(value, parse, source, key) if parse else value


# Types TOML writes as strings ("15m"), converted when the config loads: a bad value is an
# error naming its key at startup, not a failure inside a sweep hours later.
_FROM_TEXT = {timedelta: parse_duration, LabelledDuration: LabelledDuration.parse}


def _parse(text: str, parse, source: str, key: str) -> Any:
    section, _, name = key.rpartition(".")
    try:
        return parse(text, f"{source}: [{section}] {name}")
    except UsageError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class Identity:
    """Who is acting. Service functions take it explicitly: the CLI's local mode builds it
    from the operator's config, the server from a verified token only.

    `subject` is the issuer's stable id for the person (quotas count it, so plus-addresses
    of one person share one quota); `manages` are the departments a manager answers for."""

    email: str
    department: str
    is_admin: bool = False
    subject: str = ""
    manages: frozenset[str] = frozenset()

    @property
    def handle(self) -> str:
        return self.email.split("@", 1)[0]

    @property
    def quota_key(self) -> str:
        return self.subject or self.email

    @property
    def roles(self) -> list[str]:
        return ["user", *(["manager"] if self.manages else []), *(["admin"] if self.is_admin else [])]

    def manages_department(self, department: str) -> bool:
        return department in self.manages


def current_identity(settings: Settings) -> Identity:
    """Local mode only: the operator on the host that runs the server and the daemon."""
    email = os.environ.get("SANDBOX_USER") or settings.identity.email
    if not email:
        import getpass  # only for the default <login>@localhost (it imports termios)

        email = f"{getpass.getuser()}@localhost"
    email = email.strip().lower()
    # The acting user is written to the audit trail (even when refused), so it must fit
    # the column and carry no control characters; a full check_email is left to the
    # commands that create something, since <login>@localhost is a fine reader.
    if len(email) > 254 or any(ch.isspace() or not ch.isprintable() for ch in email):
        raise ConfigError(f"the acting user {email[:80]!r} (SANDBOX_USER or [identity] email) is not an "
                          "e-mail address: at most 254 characters, no spaces or control characters")
    department = os.environ.get("SANDBOX_DEPARTMENT") or settings.identity.department
    admins = {u.strip().lower() for u in settings.admin.users}
    return Identity(email=email, department=department, is_admin=email in admins, subject=email)
