"""Browser sign-in: the authorization-code flow with PKCE against the configured issuer.

The session lives in a signed cookie (HttpOnly, SameSite=Lax, Secure behind https), so
any replica can serve any request. It holds the verified ID token, checked again on
every request, and the CSRF token state-changing form posts must send back."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sandbox.errors import PermissionDeniedError, UsageError
from sandbox.server.auth import SESSION_CSRF, SESSION_TOKEN, NotAuthenticatedError, csrf_token

router = APIRouter(prefix="/auth", include_in_schema=False)
PENDING = "pending_login"


def redirect_uri(request: Request) -> str:
    base = request.app.state.sandbox.settings.server.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/auth/callback"


@router.get("/login")
def login(request: Request, next: str = "/"):
    auth = request.app.state.auth
    verifier = secrets.token_urlsafe(48)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    request.session[PENDING] = {"state": state, "nonce": nonce, "verifier": verifier, "next": _local(next)}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": auth.settings.auth.client_id,
             "redirect_uri": redirect_uri(request), "scope": "openid email profile", "state": state,
             "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
    return RedirectResponse(f"{auth.verifier.metadata()['authorization_endpoint']}?{urlencode(query)}", 303)


@router.get("/callback")
def callback(request: Request, code: str = "", state: str = "", error: str = ""):
    pending = request.session.pop(PENDING, None)
    if error:
        raise NotAuthenticatedError(f"the sign-in provider refused: {error}")
    if not pending or not code or not secrets.compare_digest(pending["state"], state):
        raise UsageError("this sign-in link is stale or was not started here; sign in again at /auth/login")
    auth = request.app.state.auth
    id_token = exchange_code(auth, code, redirect_uri(request), pending["verifier"])
    claims = auth.verifier.verify(id_token)
    if claims.get("nonce") != pending["nonce"]:
        raise NotAuthenticatedError("the ID token does not answer this sign-in (nonce); sign in again")
    auth.identity_of_jwt(id_token)  # refuses outsiders before a session exists
    request.session.clear()
    request.session[SESSION_TOKEN] = id_token
    csrf_token(request)
    return RedirectResponse(pending["next"], 303)


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    expected = request.session.get(SESSION_CSRF, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        raise PermissionDeniedError("missing or wrong CSRF token; reload the page and try again")
    request.session.clear()
    # Not "/": that would send the browser on to the provider, and a CSP form-action 'self'
    # refuses a form post that ends on another origin.
    return RedirectResponse("/signed-out", 303)


@router.get("/whoami", response_class=HTMLResponse)
def whoami(request: Request):
    """A minimal signed-in page until the web UI arrives: who you are, and sign-out."""
    from html import escape

    if not request.session.get(SESSION_TOKEN):
        return RedirectResponse("/auth/login?next=/auth/whoami", 303)
    identity = request.app.state.auth.identity_of_jwt(request.session[SESSION_TOKEN])
    return (f"<!doctype html><title>Sandbox Cloud</title><p>Signed in as {escape(identity.email)} "
            f"({escape(', '.join(identity.roles))})</p><form method=post action=/auth/logout>"
            f"<input type=hidden name=csrf value='{escape(csrf_token(request))}'>"
            "<button>Sign out</button></form>")


def exchange_code(auth, code: str, redirect: str, verifier: str) -> str:
    import httpx

    settings = auth.settings.auth
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
            "code_verifier": verifier, "client_id": settings.client_id}
    secret = settings.client_secret_value()
    try:
        response = httpx.post(auth.verifier.metadata()["token_endpoint"], data=data, timeout=15,
                              auth=(settings.client_id, secret) if secret else None)
    except httpx.HTTPError as exc:
        raise NotAuthenticatedError(f"the sign-in provider cannot be reached: {type(exc).__name__}") from None
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200 or "id_token" not in body:
        raise NotAuthenticatedError(f"the sign-in provider refused the code: {body.get('error', response.status_code)}")
    return body["id_token"]


def _local(target: str) -> str:
    """Only paths on this server: a crafted ?next= must not send the user elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
