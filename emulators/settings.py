"""Settings that point Sandbox Cloud at the local emulators, for the tests and benchmarks."""

from __future__ import annotations

from typing import Any

from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_ORGANIZATION
from sandbox.config import Settings, parse_settings
from sandbox.secrets import generate_key


def emulator_settings(db_url: str, aws_url: str = "", gcp_url: str = "", *, source: str,
                      **overrides: dict[str, Any]) -> Settings:
    """A fresh secrets key, alice in engineering, admin@example.com an admin, a quota of 3,
    the clouds' polls shortened; `overrides` replace keys per [section]."""
    raw: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "secrets": {"key": generate_key()},
        "identity": {"email": "alice@example.com", "department": "engineering"},
        "admin": {"users": ["admin@example.com"]},
        "quotas": {"max_live_per_user": 3},
        "aws": {"endpoint_url": aws_url, "poll_seconds": 0.01, "max_attempts": 2},
        "gcp": {"endpoint": gcp_url, "organization": DEFAULT_ORGANIZATION,
                "billing_account": DEFAULT_BILLING_ACCOUNT, "poll_seconds": 0.01, "max_attempts": 2},
        "daemon": {"retry_backoff": "1m"},
        "departments": {"engineering": {"aws_ou": "engineering", "gcp_folder": "engineering"}},
    }
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return parse_settings(raw, source)
