"""What every report is made of: sections of rows, totals, and how values are rounded.

A report is data (`Report`); the formats in sandbox.reports.formats only render it, so
table, CSV, JSON and HTML always show the same numbers. Field names are part of the
JSON contract documented in docs/reports.md: add fields, never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sandbox.clock import iso  # noqa: F401 - the reports' timestamp format, imported from here


@dataclass
class Section:
    """One table of a report: `columns` fixes the field order of every row."""

    name: str  # the JSON key and the CSV `section` value
    title: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    note: str = ""  # shown under the table (what the rows are, what they are not)


@dataclass
class Report:
    kind: str
    title: str
    generated_at: datetime
    parameters: dict[str, Any]  # since, until, group_by, days, filters: as given or defaulted
    totals: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)

    def section(self, name: str) -> Section:
        return next(s for s in self.sections if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: report, generated_at, parameters, totals, then one list per section."""
        data: dict[str, Any] = {
            "report": self.kind,
            "generated_at": iso(self.generated_at),
            **self.parameters,
            "totals": self.totals,
        }
        for section in self.sections:
            data[section.name] = section.rows
        return data


# ---- value helpers: every number leaves SQL through one of these ----------------------

def money(value: Any) -> float | None:
    """USD as stored (4 decimals); SQLite hands back floats, PostgreSQL Decimals."""
    return None if value is None else round(float(value), 4)


def pct(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def days(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def count(value: Any) -> int:
    return int(value or 0)


def day(value: date | str | None) -> str | None:
    """YYYY-MM-DD; SQLite returns dates from expressions as strings already."""
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()


def plain(value: Any) -> Any:
    """A JSON-ready scalar (Decimal → float)."""
    return float(value) if isinstance(value, Decimal) else value
