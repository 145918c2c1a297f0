"""Errors on pages are pages: 403, 404 and 500 (and the rest) say what happened in words,
with the request id the server log also has; never a stack trace. The API's handlers
(RFC 9457 JSON) still answer everything under /api/."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException

from sandbox import errors
from sandbox.config import Identity
from sandbox.server.auth import NotAuthenticatedError, csrf_token
from sandbox.server.problems import STATUS_OF
from sandbox.web.render import ENV, SignInRequired, pending_approvals, signed_in
from sandbox.web.security import is_page, page_headers, request_id_of

log = logging.getLogger("sandbox.server")
TITLES = {400: "That did not work", 403: "Not allowed", 404: "Not found", 405: "Not allowed here",
          409: "Not possible right now", 422: "That did not work", 429: "Quota reached",
          500: "Something went wrong", 502: "The cloud refused", 503: "Unavailable for a moment"}


def install(app: FastAPI) -> None:
    """Wrap each handler the API installed: pages get HTML, /api/ keeps its problems."""
    for exc_class, json_handler in list(app.exception_handlers.items()):
        app.add_exception_handler(exc_class, _dispatch(json_handler))
    app.add_exception_handler(SignInRequired, _dispatch(None))


def _dispatch(json_handler):
    async def handler(request: Request, exc: Exception):
        if json_handler is not None and not is_page(request.url.path):
            return await json_handler(request, exc)
        return page_for(request, exc)

    return handler


def page_for(request: Request, exc: Exception):
    # A sign-in that itself failed (under /auth/) is shown, not sent round again.
    signed_out = isinstance(exc, NotAuthenticatedError) and not request.url.path.startswith("/auth/")
    if isinstance(exc, SignInRequired) or signed_out:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        login = f"/auth/login?next={quote(target, safe='')}"
        if request.headers.get("hx-request"):
            # htmx would swap the provider's sign-in page into the polled part: reload instead.
            return HTMLResponse("", status_code=200, headers={"HX-Refresh": "true"})
        return RedirectResponse(login, 303)
    if isinstance(exc, errors.SandboxError):
        status = next(s for cls, s, _slug in STATUS_OF if isinstance(exc, cls))
        detail = " ".join(str(exc).split())
    elif isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        status, detail = 400, f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', 'invalid')}"
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        detail = "there is no page at this address" if status == 404 else str(exc.detail)
    else:
        status, detail = 500, "the server could not finish this request; it is not your fault"
    request_id = request_id_of(request)
    if status >= 500:
        # The type only: a message may quote a secret. uvicorn logs the traceback itself.
        log.error("page_error request_id=%s path=%s status=%s error=%s", request_id, request.url.path, status,
                  type(exc).__name__)
    else:
        log.info("page_refused request_id=%s path=%s status=%s", request_id, request.url.path, status)
    identity = _signed_in_or_none(request)
    nav = {"badge": _badge(request, identity) if identity and status < 500 else 0,
           "manager": bool(identity and (identity.is_admin or identity.manages)),
           "admin": bool(identity and identity.is_admin)}
    html = ENV.get_template("error.html").render(
        status=status, title=TITLES.get(status, "Error"), detail=detail, request_id=request_id, me=identity,
        nav=nav, csrf=csrf_token(request) if identity else "", path=request.url.path)
    return HTMLResponse(html, status_code=status, headers=page_headers(request_id))


def _signed_in_or_none(request: Request) -> Identity | None:
    """Who is signed in, so an error page keeps the navigation; None when nobody is or
    when finding out fails too (the error page itself must not fail)."""
    try:
        return signed_in(request)
    except Exception:  # noqa: BLE001 - any failure here only costs the navigation
        return None


def _badge(request: Request, identity: Identity) -> int:
    try:
        return pending_approvals(request, identity)
    except Exception:  # noqa: BLE001 - as above: the count is an extra
        return 0
