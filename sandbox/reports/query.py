"""Shared by every report: checking the command's input, the period, the grouping, and
the few SQL expressions that PostgreSQL and SQLite spell differently.

Dates are whole UTC days: --since 2026-01-01 --until 2026-01-31 covers
[2026-01-01T00:00Z, 2026-02-01T00:00Z). All validation happens before any query runs,
so bad input never leaves a file or a half-printed report behind.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import Date, Float, Integer, SQLColumnExpression, and_, cast, func, literal, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from sandbox.errors import UsageError
from sandbox.files import check_out
from sandbox.models import Sandbox, UTCDateTime

KINDS = ("usage", "cost", "expiring", "compliance", "audit")
FORMATS = ("table", "csv", "json", "html", "tsv")  # tsv: the table piped (the CSV rows, tab-separated)
GROUPS = ("owner", "department", "template", "provider")
DEFAULT_GROUP = "department"
DEFAULT_PERIOD_DAYS = 30  # --since defaults to 29 days before --until: 30 days in all
DEFAULT_DAYS = 7  # expiring: the next week
MAX_DAYS = 366
GROUPED_KINDS = ("usage", "cost")
PERIOD_KINDS = ("usage", "cost", "compliance", "audit")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ReportParams:
    """Checked input of one report run."""

    kind: str
    fmt: str
    now: datetime
    dialect: str  # "postgresql" or "sqlite"
    since: date
    until: date
    group_by: str = DEFAULT_GROUP
    days: int = DEFAULT_DAYS
    sandbox: str | None = None
    actor: str | None = None
    action: str | None = None
    out: Path | None = None
    warn_before: tuple[tuple[str, timedelta], ...] = field(default_factory=tuple)
    departments: tuple[str, ...] | None = None  # a manager's: only their sandboxes; None: everything

    @property
    def start(self) -> datetime:
        """First instant of the period (UTC midnight of --since)."""
        return datetime.combine(self.since, time(), tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        """First instant after the period (UTC midnight after --until)."""
        return datetime.combine(self.until + timedelta(days=1), time(), tzinfo=timezone.utc)

    @property
    def horizon(self) -> datetime:
        """expiring: the end of the look-ahead window."""
        return self.now + timedelta(days=self.days)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def period(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}

    def scope(self) -> dict[str, Any]:
        """The report's parameters say when it is scoped: a partial report must not pass for the whole."""
        return {} if self.departments is None else {"departments": list(self.departments)}


def parse_params(kind: str, *, fmt: str | None, now: datetime, dialect: str,
                 since: str | None = None, until: str | None = None, group_by: str | None = None,
                 days: str | int | None = None, sandbox: str | None = None, actor: str | None = None,
                 action: str | None = None, out: str | os.PathLike | None = None,
                 warn_before: tuple[tuple[str, timedelta], ...] = (), inline: bool = False,
                 departments: Iterable[str] | None = None) -> ReportParams:
    """`inline`: the caller takes the rendered text (the API), so html needs no --out.
    `departments`: limit every figure to those departments' sandboxes (None: everything)."""
    kind = (kind or "").strip().lower()
    if kind not in KINDS:
        raise UsageError(f"unknown report {kind!r}; use one of: {', '.join(KINDS)}")
    fmt = (fmt or "table").strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; use one of: {', '.join(FORMATS)}")
    html = fmt == "html"
    if group_by is not None and group_by.strip().lower() not in GROUPS:
        raise UsageError(f"unknown --group-by {group_by!r}; use one of: {', '.join(GROUPS)}")
    _only(kind, "--group-by", group_by, GROUPED_KINDS, html_too=html)
    _only(kind, "--since", since, PERIOD_KINDS, html_too=html)
    _only(kind, "--until", until, PERIOD_KINDS, html_too=html)
    _only(kind, "--days", days, ("expiring",))
    for option, value in (("--sandbox", sandbox), ("--actor", actor), ("--action", action)):
        _only(kind, option, value, ("audit",))

    today = now.astimezone(timezone.utc).date()
    last = parse_day(until, "--until") if until else None
    first = parse_day(since, "--since") if since else None
    last = last or (today if first is None or first <= today else first)
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise UsageError(f"--since {first} is after --until {last}; swap them")
    return ReportParams(
        kind=kind, fmt=fmt, now=now, dialect=dialect, since=first, until=last,
        group_by=(group_by or DEFAULT_GROUP).strip().lower(),
        days=parse_days(days), sandbox=_clean(sandbox), actor=_clean(actor), action=_clean(action),
        out=check_out(out, html and not inline), warn_before=tuple(warn_before),
        departments=None if departments is None else tuple(sorted(departments)),
    )


def _only(kind: str, option: str, value: Any, kinds: tuple[str, ...], *, html_too: bool = False) -> None:
    """Reject an option the report would silently ignore (the HTML overview uses the period
    and the grouping whatever the kind)."""
    if value is None or kind in kinds or html_too:
        return
    hint = " (expiring looks ahead from now: use --days)" if kind == "expiring" else ""
    raise UsageError(f"{option} does not apply to the {kind} report{hint}; it applies to: {', '.join(kinds)}")


def parse_day(text: str, option: str) -> date:
    value = text.strip()
    try:
        if not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date; use YYYY-MM-DD (a UTC day), e.g. 2026-01-31") from None


def parse_days(value: str | int | None) -> int:
    if value is None:
        return DEFAULT_DAYS
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"--days {value!r} is not a whole number of days, e.g. --days 7") from None
    if not 1 <= number <= MAX_DAYS:
        raise UsageError(f"--days {number} is out of range; use 1 to {MAX_DAYS}")
    return number


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


# ---- scope: which rows the reader may see --------------------------------------------

def sandbox_scope(p: ReportParams) -> list[ColumnElement]:
    """Where-clauses for a query on Sandbox; none for an admin. Spread them: .where(*...)."""
    if p.departments is None:
        return []
    return [col(Sandbox.department).in_(p.departments)]


def owned_scope(p: ReportParams, sandbox_id: SQLColumnExpression) -> list[ColumnElement]:
    """Where-clauses for a table keyed by `sandbox_id` (events, cost samples, findings). A row
    of no sandbox (NULL: an orphan account, a refused report) is in no department: admins only."""
    if p.departments is None:
        return []
    return [sandbox_id.in_(select(col(Sandbox.id)).where(*sandbox_scope(p)))]


# ---- grouping and dialect-specific SQL ------------------------------------------------

def group_column(group_by: str) -> SQLColumnExpression:
    return {"owner": col(Sandbox.owner), "department": col(Sandbox.department),
            "template": col(Sandbox.template), "provider": col(Sandbox.provider)}[group_by]


def ts(value: datetime) -> ColumnElement:
    """A timestamp parameter typed like the columns (SQLite: naive UTC text)."""
    return literal(value, UTCDateTime())


def epoch_days(p: ReportParams, expr: SQLColumnExpression) -> ColumnElement:
    """A timestamp as fractional days on a common scale; differences are durations in days."""
    if p.is_postgres:
        return cast(func.extract("epoch", expr), Float) / 86400.0
    return func.julianday(expr)


def least(p: ReportParams, *exprs: ColumnElement) -> ColumnElement:
    return func.least(*exprs) if p.is_postgres else func.min(*exprs)


def greatest(p: ReportParams, *exprs: ColumnElement) -> ColumnElement:
    return func.greatest(*exprs) if p.is_postgres else func.max(*exprs)


def utc_day(p: ReportParams, expr: ColumnElement) -> ColumnElement:
    """The UTC calendar day of a timestamp (PostgreSQL's cast would use the session zone)."""
    if p.is_postgres:
        return cast(func.timezone("UTC", expr), Date)
    return func.date(expr)


def iso_text(p: ReportParams, expr: SQLColumnExpression) -> ColumnElement:
    """A timestamp as 2026-01-05T12:00:00Z, formatted by the database: long lists (the
    audit log) skip a datetime object and an isoformat() per row."""
    if p.is_postgres:
        return func.to_char(func.timezone("UTC", expr), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    return func.strftime("%Y-%m-%dT%H:%M:%SZ", expr)  # SQLite keeps naive UTC text


def median_by(session, p: ReportParams, key: ColumnElement | None, value: ColumnElement,
              *where: ColumnElement) -> dict[Any, float]:
    """Median of `value` per `key` (or overall, under key None), computed in SQL.

    PostgreSQL: percentile_cont(0.5). SQLite has no percentile aggregate: number the rows
    per group with window functions and average the middle one or two.
    """
    if p.is_postgres:
        median = func.percentile_cont(0.5).within_group(value)
        if key is None:
            return {None: session.execute(select(median).where(*where)).scalar()}
        return dict(session.execute(select(key, median).where(*where).group_by(key)).all())
    part = key  # None: one partition
    ranked = select(
        (key if key is not None else literal(None)).label("k"),
        value.label("v"),
        func.row_number().over(partition_by=part, order_by=value).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).where(*where).subquery()
    middle = and_(ranked.c.rn >= (ranked.c.n + 1) // 2, ranked.c.rn <= (ranked.c.n + 2) // 2)
    rows = session.execute(select(ranked.c.k, func.avg(ranked.c.v)).where(middle).group_by(ranked.c.k)).all()
    return dict(rows)


def as_int(expr: ColumnElement) -> ColumnElement:
    return cast(expr, Integer)
