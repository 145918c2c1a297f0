"""Human durations: 90s, 30m, 12h, 7d, 2w (and combinations such as 1d12h)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import NamedTuple

from sandbox.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d{1,6})([smhdw])")


def parse_duration(text: str, what: str = "duration") -> timedelta:
    cleaned = str(text).strip().lower()
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
