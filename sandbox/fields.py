"""Typed fields out of a TOML table, naming the file and the field on error: read by the
templates and by each provider's part of a template."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sandbox.durations import parse_duration
from sandbox.errors import TemplateError, UsageError


@dataclass
class TableReader:
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

    def table(self, key: str) -> "TableReader":
        value = self.get(key, dict, {})
        return TableReader(self.path, value, f"{self.prefix}{key}.")

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.fail(unknown[0], f"unknown field (known: {', '.join(sorted(self.seen))})")
