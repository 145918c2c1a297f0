"""What every page shares: who is signed in (from the session cookie only), the CSRF
check of form posts, and rendering a template with the navigation's context."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from sandbox.config import Identity
from sandbox.errors import PermissionDeniedError, SandboxError
from sandbox.web import views
from sandbox.server.auth import SESSION_CSRF, SESSION_TOKEN, NotAuthenticatedError, csrf_token

# autoescape on for every template: names, e-mails, reasons and labels are user-supplied.
ENV = Environment(loader=PackageLoader("sandbox.web", "templates"), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters["when"] = views.when


class SignInRequired(SandboxError):
    """A page asked for without a (valid) session: the browser is sent to sign in."""


def signed_in(request: Request) -> Identity:
    """The page's caller, from the signed session cookie (a bearer header is the API's
    business). A session whose ID token has expired is dropped: sign in again."""
    from sandbox.server.api import refuse_nul

    token = request.session.get(SESSION_TOKEN)
    if not token:
        raise SignInRequired("sign in first")
    try:
        identity = request.app.state.auth.identity_of_jwt(token)
    except NotAuthenticatedError:
        request.session.clear()
        raise SignInRequired("the session has expired") from None
    refuse_nul(request)
    return identity


def check_csrf(request: Request, sent: str) -> None:
    expected = request.session.get(SESSION_CSRF, "")
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(expected, sent):
        raise PermissionDeniedError("missing or wrong CSRF token; reload the page and try again")


def pending_approvals(request: Request, identity: Identity) -> int:
    """The navigation badge: requests this manager or admin may answer (not their own)."""
    if not (identity.is_admin or identity.manages):
        return 0
    from sandbox.service.queries import count_awaiting_approval

    return count_awaiting_approval(request.app.state.sandbox, identity)


def awaits_approval(view: dict[str, Any]) -> bool:
    return view["state"] == "requested" and view["approval_required"] and not view["approved_by"]


def render(request: Request, page: str, identity: Identity | None, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    nav = {"badge": pending_approvals(request, identity) if identity else 0,
           "manager": bool(identity and (identity.is_admin or identity.manages)),
           "admin": bool(identity and identity.is_admin)}
    csrf = csrf_token(request) if identity else ""
    html = ENV.get_template(page).render(request=request, me=identity, nav=nav, csrf=csrf,
                                             path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=headers)
