"""TOML sandbox templates → validated Template objects.

A malformed template names its file, the field and the problem.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sandbox.durations import format_duration, parse_duration
from sandbox.errors import NotFoundError, TemplateError, UsageError
from sandbox.fields import TableReader
from sandbox.provider import Threshold, clouds
from sandbox.snapshot import TemplateSnapshot

KINDS = ("individual", "group")
THRESHOLD_ACTIONS = ("notify", "freeze")
# "pool": lease a ready account from the cloud's account pool when one is configured and
# ready, else create one (sandbox.service.pool); "create": always create (and close) one.
ACCOUNT_SOURCES = ("pool", "create")
DEFAULT_MIN_TTL = timedelta(hours=1)
MAX_BUDGET_USD = 1_000_000_000  # fits the NUMERIC(14, 4) money columns
_TAG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.:/=+@-]{0,62}$")


@dataclass(frozen=True)
class Template:
    name: str
    provider: str
    description: str
    kind: str
    default_ttl: timedelta
    min_ttl: timedelta  # the shortest --ttl accepted: "1m" (a minute) meant as a month is refused
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
    account_source: str = "create"

    def snapshot(self) -> TemplateSnapshot:
        """What a sandbox requested from this template keeps of it."""
        return TemplateSnapshot(max_ttl=self.max_ttl, max_extensions=self.max_extensions,
                                grace_period=self.grace_period, thresholds=self.thresholds, spec=self.spec)

    def to_json(self) -> dict[str, Any]:
        """The whole template, JSON-safe, as `sandbox templates show` prints it."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, timedelta):
                data[key] = format_duration(value)  # as one types it: 14d, 12h
        data["budget_usd"] = None if self.budget_usd is None else float(self.budget_usd)  # as in sandbox views
        data["thresholds"] = [asdict(t) for t in self.thresholds]
        return data


def parse_template(text: str, path: str, name: str) -> Template:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: not valid TOML: {exc}") from None
    top = TableReader(path, data)
    provider = top.get("provider", str, required=True)
    if provider not in clouds():
        raise top.fail("provider", f"must be one of {', '.join(clouds())}, got {provider!r}")
    kind = top.get("kind", str, "individual")
    if kind not in KINDS:
        raise top.fail("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    default_ttl = top.duration("default_ttl", "7d")
    max_ttl = top.duration("max_ttl", "30d")
    if default_ttl > max_ttl:
        raise top.fail("default_ttl", "is longer than max_ttl")
    # Unset, an hour, or the default TTL when that is shorter (a template of short-lived sandboxes).
    min_ttl = top.duration("min_ttl") if "min_ttl" in top.data else min(DEFAULT_MIN_TTL, default_ttl)
    if min_ttl > default_ttl:
        raise top.fail("min_ttl", "is longer than default_ttl")
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
    account_source = top.get("account_source", str, "create")
    if account_source not in ACCOUNT_SOURCES:
        raise top.fail("account_source", f"must be one of {', '.join(ACCOUNT_SOURCES)}, got {account_source!r}")
    if account_source == "pool":  # kept in the sandbox's snapshot with the spec
        spec = {**spec, "account_source": "pool"}
    template = Template(
        name=name,
        provider=provider,
        description=top.get("description", str, ""),
        kind=kind,
        default_ttl=default_ttl,
        min_ttl=min_ttl,
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
        account_source=account_source,
    )
    top.check_unknown()
    return template


def _read_budget(budget: TableReader) -> tuple[Decimal | None, tuple[Threshold, ...]]:
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
        entry = TableReader(budget.path, item if isinstance(item, dict) else {}, f"{budget.prefix}thresholds[{i}].")
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


def _read_tags(tags: TableReader) -> dict[str, str]:
    result = {}
    for key in list(tags.data):
        value = tags.get(key, str)
        if not _TAG_KEY.match(key):
            raise tags.fail(key, "tag keys start with a letter and use letters, digits and _.:/=+@-")
        if len(value) > 256:
            raise tags.fail(key, "tag values are at most 256 characters")
        result[key] = value
    return result


def _read_spec(top: TableReader, provider: str, kind: str) -> dict[str, Any]:
    other = next((name for name in clouds() if name != provider and name in top.data), None)
    if other:
        raise top.fail(other, f"does not belong in a {provider} template")
    section = top.table(provider)
    spec = clouds()[provider].read_spec(section, kind)
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
    names = []
    for directory in dirs:
        path = directory / f"{name}.toml"
        files = _template_files(directory)
        if path in files:
            return load_template_file(path)
        names += [p.stem for p in files]
    close = difflib.get_close_matches(name, names, n=1)  # as click suggests a mistyped command
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise NotFoundError(f"no template named {name!r}; {hint}see: sandbox templates list")
