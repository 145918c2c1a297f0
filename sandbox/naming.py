"""Sandbox names: `{handle}-{8 hex}` from the owner's e-mail, as HackyStack does."""

from __future__ import annotations

import re
import secrets

from sandbox.errors import UsageError

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MAX_HANDLE = 20  # leaves room for "-" and 8 hex inside GCP's 30-character project ids


def check_email(email: str) -> str:
    cleaned = (email or "").strip().lower()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise UsageError(f"{email!r} is not an e-mail address like alice@example.com")
    return cleaned


def handle_of(email: str) -> str:
    """The e-mail's local part, reduced to lowercase letters, digits and single hyphens."""
    local = email.partition("@")[0].lower()
    handle = re.sub(r"[^a-z0-9]+", "-", local).strip("-")[:MAX_HANDLE].rstrip("-")
    if not handle:
        raise UsageError(
            f"the e-mail {email!r} has no letters or digits before the @ to name a sandbox after"
        )
    return handle


def new_sandbox_id() -> str:
    return secrets.token_hex(4)


_CHOSEN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def sandbox_name(email: str, sandbox_id: str, chosen: str | None = None) -> str:
    """`{handle}-{id}`, or `{chosen}-{id}` when the requester named it: the id suffix keeps
    names unique and lets GCP project ids keep it whole."""
    return f"{check_name(chosen) if chosen else handle_of(email)}-{sandbox_id}"


def check_name(chosen: str) -> str:
    name = chosen.strip().lower()
    if not (1 <= len(name) <= MAX_HANDLE and _CHOSEN.match(name)):
        raise UsageError(f"--name {chosen[:40]!r} must be 1-{MAX_HANDLE} lowercase letters, digits and "
                         "single hyphens, e.g. load-test (the id is appended)")
    return name
