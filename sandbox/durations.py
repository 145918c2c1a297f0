"""Human durations: 90s, 30m (minutes), 12h, 7d, 2w (and combinations such as 1d12h)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import NamedTuple

from sandbox.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d{1,6})([smhdw])")
_MONTHS = re.compile(r"\d\s*(mo|mth|mon|month|months)$|\d(mo|mth|mon)\d")


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """`m` is minutes. Months are refused rather than guessed (28 to 31 days?)."""
    cleaned = str(text).strip().lower()
    if _MONTHS.search(cleaned):
        raise UsageError(f"{what} {text!r}: months are ambiguous; use days, e.g. 30d (m means minutes)")
    if not cleaned or _PART.sub("", cleaned):
        raise UsageError(f"{what} {text!r} is not a duration; use e.g. 12h, 7d or 2w")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0:
        raise UsageError(f"{what} {text!r} must be longer than zero")
    if seconds > 3650 * 86400:
        raise UsageError(f"{what} {text!r} is longer than ten years")
    return timedelta(seconds=seconds)


class LabelledDuration(NamedTuple):
    """A duration with the text it was written as: [daemon] warn_before's "3d" names the
    warning's milestone and appears in the notice, so it stays what the operator wrote
    ("72h" is not turned into "3d")."""

    label: str
    delta: timedelta

    @classmethod
    def parse(cls, text: str, what: str = "duration") -> "LabelledDuration":
        return cls(text, parse_duration(text, what))


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_remaining(delta: timedelta) -> str:
    """Time left as people read it, rounded down, in its two largest units: 2d 23h, 5h 12m,
    12m, 40s. An expiry warning says this, not the lead time that triggered it (a 1-minute
    sandbox is not "expiring in 1d")."""
    seconds = max(int(delta.total_seconds()), 0)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        elif parts:
            break  # 2d 0h 5m reads as 2d: the units stay adjacent
        if len(parts) == 2:
            break
    return " ".join(parts)
