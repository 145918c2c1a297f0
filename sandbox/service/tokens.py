"""Personal API tokens for scripts and CI: shown once, stored as a hash, revocable, expiring."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from sandbox.config import Identity
from sandbox.durations import format_duration, parse_duration
from sandbox.errors import NotFoundError, UsageError
from sandbox.lifecycle import record_event
from sandbox.models import ApiToken
from sandbox.service.access import iso_utc, refuse
from sandbox.service.app import App

PREFIX = "sbx_"
SCOPES = ("read", "write")
_NAME = re.compile(r"^[\w.@ -]{1,64}$")
_TOKEN = re.compile(r"^sbx_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
# A token's last use is written at most this often: reads stay reads under load.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def create_token(app: App, identity: Identity, name: str, *, expires_in: str = "30d",
                 scope: str = "write") -> dict[str, Any]:
    """The new token with its secret, which is never shown again."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise UsageError("a token name is 1-64 letters, digits, spaces, or . @ - _; e.g. ci-nightly")
    if scope not in SCOPES:
        raise UsageError(f"scope {scope!r} is not one of: {', '.join(SCOPES)}")
    lifetime = parse_duration(expires_in, "expires_in")
    longest = timedelta(days=app.settings.auth.token_max_days)
    if lifetime > longest:
        raise UsageError(f"expires_in {expires_in} is longer than this server allows "
                         f"({format_duration(longest)}); ask for less")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    now = app.now()
    row = ApiToken(id=token_id, owner=identity.email, owner_subject=identity.quota_key,
                   department=identity.department, is_admin=identity.is_admin,
                   manages=sorted(identity.manages), name=name, scope=scope,
                   secret_hash=_hash(secret), created_at=now, expires_at=now + lifetime)
    with app.session() as session:
        session.add(row)
        record_event(session, sandbox_id=None, actor=identity.email, action="token_created", at=now,
                     detail={"token_id": token_id, "name": name, "scope": scope})
    return {**token_view(row), "token": f"{PREFIX}{token_id}_{secret}"}


def list_tokens(app: App, identity: Identity, *, owner: str | None = None) -> list[dict[str, Any]]:
    """The caller's tokens; an admin may name another owner, or '*' for everyone's."""
    owner = (owner or "").strip().lower() or identity.email
    with app.session() as session:
        if owner != identity.email and not identity.is_admin:
            refuse(session, identity, "list another user's tokens", None, app.now(),
                   "only admins may list another user's tokens")
        query = select(ApiToken).order_by(col(ApiToken.created_at).desc(), col(ApiToken.id))
        if owner != "*":
            query = query.where(ApiToken.owner == owner)
        return [token_view(t) for t in session.exec(query).all()]


def revoke_token(app: App, identity: Identity, token_id: str) -> dict[str, Any]:
    now = app.now()
    with app.session() as session:
        row = session.get(ApiToken, (token_id or "").strip().lower())
        if row is None or (row.owner != identity.email and not identity.is_admin):
            raise NotFoundError(f"no token {token_id!r} of yours; see: sandbox token list")
        if row.revoked_at is None:
            row.revoked_at = now
            session.add(row)
            record_event(session, sandbox_id=None, actor=identity.email, action="token_revoked", at=now,
                         detail={"token_id": row.id, "name": row.name, "owner": row.owner})
        return token_view(row)


def authenticate_token(app: App, presented: str) -> tuple[Identity, str] | None:
    """The identity and scope a presented token stands for; None if it is not a valid,
    live token (unknown, wrong secret, revoked, expired)."""
    match = _TOKEN.match(presented)
    if not match:
        return None
    now = app.now()
    with app.session() as session:
        row = session.get(ApiToken, match.group(1))
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(match.group(2))):
            return None
        if row.revoked_at is not None or row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
            row.last_used_at = now
            session.add(row)
        identity = Identity(email=row.owner, department=row.department, is_admin=row.is_admin,
                            subject=row.owner_subject, manages=frozenset(row.manages))
        return identity, row.scope


def is_api_token(presented: str) -> bool:
    return presented.startswith(PREFIX)


def token_view(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "owner": row.owner, "scope": row.scope,
            "created_at": iso_utc(row.created_at), "expires_at": iso_utc(row.expires_at),
            "last_used_at": iso_utc(row.last_used_at), "revoked_at": iso_utc(row.revoked_at)}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
