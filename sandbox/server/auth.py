"""Who is calling: a verified bearer token (the issuer's JWT or a personal API token) or
the browser's signed session cookie. Nothing else the client says changes who it is."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from sandbox.config import Identity, Settings
from sandbox.errors import PermissionDeniedError, SandboxError
from sandbox.server.oidc import IssuerUnavailable, OidcVerifier, TokenRejected, WouldBlock

SESSION_TOKEN = "id_token"
SESSION_CSRF = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticatedError(SandboxError):
    """401: no credentials, or ones we do not accept."""

    exit_code = 3


class IdentityProviderError(SandboxError):
    """503: the issuer's discovery document or keys cannot be read."""


@dataclass(frozen=True)
class Caller:
    identity: Identity
    scope: str  # read | write
    via: str  # jwt | token | session


def identity_from_claims(settings: Settings, claims: dict[str, Any]) -> Identity:
    """Map verified claims to an identity: e-mail (lower-cased), roles from groups, the
    department from its claim or the group mapping."""
    auth = settings.auth
    email = claims.get(auth.email_claim)
    if not isinstance(email, str) or "@" not in email:
        raise NotAuthenticatedError(f"the token carries no e-mail in claim {auth.email_claim!r}")
    email = email.strip().lower()
    if auth.require_email_verified and claims.get("email_verified") not in (True, "true"):
        raise NotAuthenticatedError("the token's e-mail address is not verified by the issuer")
    if not auth.domain_allowed(email):
        raise NotAuthenticatedError(f"{email} is outside the allowed domains of this server")
    groups = claims.get(auth.groups_claim) or []
    groups = {g for g in groups if isinstance(g, str)} if isinstance(groups, list) else set()
    in_groups = [name for name, d in settings.departments.items() if groups.intersection(d.groups)]
    claimed = claims.get(auth.department_claim) if auth.department_claim else None
    if isinstance(claimed, str) and claimed in settings.departments:
        department = claimed
    elif in_groups:
        department = in_groups[0]
    else:
        department = "default" if "default" in settings.departments else next(iter(settings.departments))
    is_admin = bool(groups.intersection(auth.admin_groups)) or email in {u.lower() for u in settings.admin.users}
    manages = frozenset({department, *in_groups}) if groups.intersection(auth.manager_groups) else frozenset()
    return Identity(email=email, department=department, is_admin=is_admin,
                    subject=f"{claims['iss']}|{claims['sub']}", manages=manages)


class Authenticator:
    def __init__(self, settings: Settings, app):
        self.settings = settings
        self.app = app
        self.verifier = OidcVerifier(settings.auth)

    def caller(self, request: Request, blocking: bool = True) -> Caller:
        """With `blocking` false, raise WouldBlock where the database or the issuer must be
        asked: the server's event loop checks the common case (a JWT whose key is known)
        itself, and hands the rest to a worker thread."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, presented = header.partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                raise NotAuthenticatedError("use an Authorization: Bearer <token> header")
            return self._bearer(presented.strip(), blocking)
        token = request.session.get(SESSION_TOKEN) if "session" in request.scope else None
        if token:
            if request.method not in SAFE_METHODS and not csrf_ok(request):
                raise PermissionDeniedError("missing or wrong CSRF token; reload the page and try again")
            return Caller(self.identity_of_jwt(token, blocking), "write", "session")
        raise NotAuthenticatedError("sign in first: send a bearer token (see: sandbox login)")

    def _bearer(self, presented: str, blocking: bool) -> Caller:
        from sandbox.service.tokens import authenticate_token, is_api_token

        if is_api_token(presented):
            if not blocking:
                raise WouldBlock
            found = authenticate_token(self.app, presented)
            if found is None:
                raise NotAuthenticatedError("the API token is unknown, revoked or expired")
            return Caller(found[0], found[1], "token")
        return Caller(self.identity_of_jwt(presented, blocking), "write", "jwt")

    def identity_of_jwt(self, token: str, blocking: bool = True) -> Identity:
        try:
            claims = self.verifier.verify(token, blocking)
        except TokenRejected as exc:
            raise NotAuthenticatedError(f"token refused: {exc}") from None
        except IssuerUnavailable as exc:
            raise IdentityProviderError(f"the sign-in provider cannot be reached: {exc}") from None
        return identity_from_claims(self.settings, claims)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use; forms send it back."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = request.session[SESSION_CSRF] = secrets.token_urlsafe(24)
    return token


def csrf_ok(request: Request) -> bool:
    expected = request.session.get(SESSION_CSRF)
    sent = request.headers.get("x-csrf-token", "")
    return isinstance(expected, str) and bool(expected) and secrets.compare_digest(expected, sent)
