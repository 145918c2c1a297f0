"""TOML sandbox templates → validated Template objects.

A malformed template names its file, the field and the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sandbox.durations import parse_duration
from sandbox.errors import NotFoundError, TemplateError, UsageError
from sandbox.provider import Threshold

KINDS = ("individual", "group")
THRESHOLD_ACTIONS = ("notify", "freeze")
PROVIDERS = ("aws", "gcp")
MAX_BUDGET_USD = 1_000_000_000  # fits the NUMERIC(14, 4) money columns
_TAG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.:/=+@-]{0,62}$")
_ROLE = re.compile(r"^(roles|projects/[a-z0-9-]+/roles|organizations/\d+/roles)/[A-Za-z0-9_.]+$")
_SERVICE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.googleapis\.com$")
_POLICY_ARN = re.compile(r"^arn:aws:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")


@dataclass(frozen=True)
class Template:
    name: str
    provider: str
    description: str
    kind: str
    default_ttl: timedelta
    max_ttl: timedelta
    max_extensions: int
    grace_period: timedelta
    approval_required: bool
    max_live: int  # live sandboxes of this template across all users; 0: no limit
    budget_usd: Decimal | None
    thresholds: tuple[Threshold, ...]
    tags: dict[str, str]
    spec: dict[str, Any]  # the provider's own section ([aws] or [gcp])
    path: str = ""

    def snapshot(self) -> dict[str, Any]:
        """JSON-safe copy stored with each sandbox, so later edits don't change it."""
        data = asdict(self)
        for key in ("default_ttl", "max_ttl", "grace_period"):
            data[key] = int(data[key].total_seconds())
        data["budget_usd"] = None if self.budget_usd is None else str(self.budget_usd)
        data["thresholds"] = [asdict(t) for t in self.thresholds]
        return data


@dataclass
class _Reader:
    """Pulls typed fields out of a TOML table, naming the file and field on error."""

    path: str
    data: dict[str, Any]
    prefix: str = ""
    seen: set[str] = field(default_factory=set)

    def fail(self, key: str, problem: str) -> TemplateError:
        return TemplateError(f"{self.path}: field {self.prefix}{key}: {problem}")

    def get(self, key: str, kind: type | tuple, default: Any = ..., required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required or default is ...:
                raise self.fail(key, "is required")
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be {names}, got {value!r}")
        return value

    def duration(self, key: str, default: str | None = None) -> timedelta:
        text = self.get(key, str, default) if default is not None else self.get(key, str, required=True)
        try:
            return parse_duration(text, "value")
        except UsageError as exc:
            raise self.fail(key, str(exc)) from None

    def table(self, key: str) -> "_Reader":
        value = self.get(key, dict, {})
        return _Reader(self.path, value, f"{self.prefix}{key}.")

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.fail(unknown[0], f"unknown field (known: {', '.join(sorted(self.seen))})")


def parse_template(text: str, path: str, name: str) -> Template:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: not valid TOML: {exc}") from None
    top = _Reader(path, data)
    provider = top.get("provider", str, required=True)
    if provider not in PROVIDERS:
        raise top.fail("provider", f"must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    kind = top.get("kind", str, "individual")
    if kind not in KINDS:
        raise top.fail("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    default_ttl = top.duration("default_ttl", "7d")
    max_ttl = top.duration("max_ttl", "30d")
    if default_ttl > max_ttl:
        raise top.fail("default_ttl", "is longer than max_ttl")
    max_extensions = top.get("max_extensions", int, 2)
    max_live = top.get("max_live", int, 0)
    for key, value in (("max_extensions", max_extensions), ("max_live", max_live)):
        if value < 0:
            raise top.fail(key, "must not be negative")
    template_name = top.get("name", str, name)
    if template_name != name:
        raise top.fail("name", f"is {template_name!r} but the file is named {name!r}.toml")
    budget_usd, thresholds = _read_budget(top.table("budget"))
    tags = _read_tags(top.table("tags"))
    spec = _read_spec(top, provider, kind)
    template = Template(
        name=name,
        provider=provider,
        description=top.get("description", str, ""),
        kind=kind,
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        max_extensions=max_extensions,
        grace_period=top.duration("grace_period", "3d"),
        approval_required=top.get("approval_required", bool, False),
        max_live=max_live,
        budget_usd=budget_usd,
        thresholds=thresholds,
        tags=tags,
        spec=spec,
        path=path,
    )
    top.check_unknown()
    return template


def _read_budget(budget: _Reader) -> tuple[Decimal | None, tuple[Threshold, ...]]:
    raw_amount = budget.get("amount_usd", (int, float), None)
    amount = None
    if raw_amount is not None:
        try:
            amount = Decimal(str(raw_amount))
        except InvalidOperation:  # pragma: no cover - TOML numbers always convert
            raise budget.fail("amount_usd", "is not a number") from None
        # nan made the comparison below raise; inf and huge amounts overflowed the
        # database's NUMERIC(14, 4) when a sandbox was requested.
        if not amount.is_finite() or amount <= 0:
            raise budget.fail("amount_usd", "must be a positive number")
        if amount > MAX_BUDGET_USD:
            raise budget.fail("amount_usd", f"must be at most {MAX_BUDGET_USD} USD")
    thresholds = []
    for i, item in enumerate(budget.get("thresholds", list, [])):
        entry = _Reader(budget.path, item if isinstance(item, dict) else {}, f"{budget.prefix}thresholds[{i}].")
        if not isinstance(item, dict):
            raise entry.fail("", "must be a table like {percent = 80, action = \"notify\"}")
        percent = entry.get("percent", int, required=True)
        action = entry.get("action", str, "notify")
        if not 1 <= percent <= 1000:
            raise entry.fail("percent", "must be between 1 and 1000")
        if action not in THRESHOLD_ACTIONS:
            raise entry.fail("action", f"must be one of {', '.join(THRESHOLD_ACTIONS)}")
        entry.check_unknown()
        thresholds.append(Threshold(percent=percent, action=action))
    if thresholds and amount is None:
        raise budget.fail("thresholds", "need budget.amount_usd")
    budget.check_unknown()
    return amount, tuple(sorted(thresholds, key=lambda t: t.percent))


def _read_tags(tags: _Reader) -> dict[str, str]:
    result = {}
    for key in list(tags.data):
        value = tags.get(key, str)
        if not _TAG_KEY.match(key):
            raise tags.fail(key, "tag keys start with a letter and use letters, digits and _.:/=+@-")
        if len(value) > 256:
            raise tags.fail(key, "tag values are at most 256 characters")
        result[key] = value
    return result


def _read_spec(top: _Reader, provider: str, kind: str) -> dict[str, Any]:
    other = "gcp" if provider == "aws" else "aws"
    if other in top.data:
        raise top.fail(other, f"does not belong in a {provider} template")
    section = top.table(provider)
    if provider == "aws":
        spec = {
            "console_login": section.get("console_login", bool, True),
            "access_keys": section.get("access_keys", bool, False),
            "policies": section.get("policies", list, []),
        }
        for i, arn in enumerate(spec["policies"]):
            if not isinstance(arn, str) or not _POLICY_ARN.match(arn):
                raise section.fail(f"policies[{i}]", f"is not an IAM policy ARN: {arn!r}")
        if not spec["console_login"] and not spec["access_keys"]:
            raise section.fail("console_login", "and access_keys are both false: members would get no access")
    else:
        spec = {
            "roles": section.get("roles", list, ["roles/owner"]),
            "member_roles": section.get("member_roles", list, ["roles/editor"]),
            "services": section.get("services", list, []),
        }
        for key, pattern, what in (("roles", _ROLE, "an IAM role like roles/editor"),
                                   ("member_roles", _ROLE, "an IAM role like roles/editor"),
                                   ("services", _SERVICE, "a service like compute.googleapis.com")):
            for i, value in enumerate(spec[key]):
                if not isinstance(value, str) or not pattern.match(value):
                    raise section.fail(f"{key}[{i}]", f"must be {what}, got {value!r}")
        if not spec["roles"]:
            raise section.fail("roles", "must grant the owner at least one role")
    section.check_unknown()
    return spec


def load_template_file(path: Path) -> Template:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read: {exc}") from None
    return parse_template(text, str(path), path.stem)


def list_templates(dirs: list[Path]) -> list[Template]:
    """Every template by name; a name in an earlier directory hides a later one."""
    found: dict[str, Template] = {}
    for directory in dirs:
        for path in _template_files(directory):
            if path.stem not in found:
                found[path.stem] = load_template_file(path)
    return sorted(found.values(), key=lambda t: t.name)


def _template_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.glob("*.toml") if p.is_file())
    except (OSError, ValueError) as exc:  # a name too long, a NUL: a broken [templates] dirs entry
        raise TemplateError(f"template directory {directory} cannot be read "
                            f"({getattr(exc, 'strerror', None) or exc}); check [templates] dirs") from None


def find_template(dirs: list[Path], name: str) -> Template:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name or ""):
        raise UsageError(f"{name!r} is not a template name; run: sandbox templates list")
    for directory in dirs:
        path = directory / f"{name}.toml"
        if path in _template_files(directory):
            return load_template_file(path)
    raise NotFoundError(f"no template named {name!r}; run: sandbox templates list")
