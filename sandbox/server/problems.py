"""Errors as RFC 9457 problem documents. Their meaning matches the CLI's exit codes, and
`exit_code` carries it, so the remote CLI exits exactly as the local one would."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sandbox import errors
from sandbox.server.auth import IdentityProviderError, NotAuthenticatedError

PROBLEM_TYPE = "urn:sandbox-cloud:problem:"
# The first matching class wins: subclasses before their bases.
STATUS_OF = [
    (NotAuthenticatedError, 401, "not-authenticated"),
    (errors.PermissionDeniedError, 403, "forbidden"),
    (errors.NotFoundError, 404, "not-found"),
    (errors.QuotaExceededError, 429, "quota-exceeded"),
    (errors.AmbiguousIdError, 409, "ambiguous-id"),
    (errors.IllegalTransitionError, 409, "conflict"),
    (errors.ConcurrentUpdateError, 409, "concurrent-update"),
    (errors.UsageError, 400, "bad-request"),
    (errors.TemplateError, 400, "bad-template"),
    (errors.ConfigError, 400, "bad-configuration"),
    (errors.CloseQuotaError, 409, "close-quota"),
    (errors.ProviderError, 502, "cloud-error"),
    (IdentityProviderError, 503, "identity-provider-unavailable"),
    (errors.SchemaOutdatedError, 503, "schema-outdated"),
    (errors.DatabaseUnavailableError, 503, "database-unavailable"),
    (errors.SecretKeyError, 503, "secrets-key"),
    (errors.SandboxError, 409, "refused"),
]
TITLES = {400: "Bad request", 401: "Not signed in", 403: "Forbidden", 404: "Not found", 409: "Conflict",
          422: "Invalid request", 429: "Quota exceeded", 502: "Cloud error", 503: "Service unavailable"}


def problem(status: int, slug: str, detail: str, exit_code: int, headers: dict | None = None) -> JSONResponse:
    body = {"type": PROBLEM_TYPE + slug, "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, "exit_code": exit_code}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.SandboxError)
    async def domain_error(_request: Request, exc: errors.SandboxError):
        status, slug = next((s, n) for cls, s, n in STATUS_OF if isinstance(exc, cls))
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem(status, slug, " ".join(str(exc).split()), exc.exit_code, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return problem(422, "invalid-request", f"{where}: {first.get('msg', 'invalid')}".strip(": "), 2)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException):
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "error")
        return problem(exc.status_code, slug, str(exc.detail), 2 if exc.status_code < 500 else 1)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        import logging

        logging.getLogger("sandbox.server").error("internal_error path=%s error=%s", request.url.path,
                                                  type(exc).__name__)
        return problem(500, "internal", "internal error; the server's log has the details", 70)
