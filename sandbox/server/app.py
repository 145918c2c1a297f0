"""The FastAPI application: one service App per process, no in-process state that several
replicas would have to share (sessions are signed cookies, deadlines live in the database)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.sessions import SessionMiddleware

from sandbox import web
from sandbox.config import Settings
from sandbox.errors import ConfigError, SandboxError
from sandbox.server import api, browser, schemas
from sandbox.server.auth import Authenticator
from sandbox.server.problems import install_handlers
from sandbox.server.provisioner import Provisioner

log = logging.getLogger("sandbox.server")
SESSION_COOKIE = "sandbox_session"
SESSION_MAX_AGE = 12 * 3600
PUBLIC_API = {"/api/v1/auth/config"}  # how to sign in must be readable before signing in


def create_app(settings: Settings, *, clock=None) -> FastAPI:
    """The server for `settings`; refuses to start without an issuer to verify tokens."""
    from sandbox.db import make_engine
    from sandbox.service import build_app

    if not settings.auth.issuer or not settings.auth.client_id:
        raise ConfigError(f"{settings.source}: [auth] issuer and client_id are needed to run the server; "
                          "see README.md, 'Signing in'")
    threads = settings.server.threads
    if threads < 1:
        raise ConfigError(f"{settings.source}: [server] threads must be at least 1")
    url = settings.database_url()
    pool = {} if url.startswith("sqlite") else {"pool_size": threads, "max_overflow": threads}
    sandbox_app = build_app(settings, clock=clock, check=False, engine=make_engine(url, **pool))
    provisioner = Provisioner(sandbox_app, enabled=settings.server.provision_on_request)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        provisioner.shutdown()
        sandbox_app.close()

    app = FastAPI(title="Sandbox Cloud", version="0.1.0", lifespan=lifespan,
                  openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None,
                  description="Temporary AWS accounts and GCP projects that always end. "
                              "Authenticate with a bearer token: an ID token from the configured "
                              "OpenID Connect issuer, or a personal API token (POST /api/v1/tokens).")
    app.state.sandbox = sandbox_app
    app.state.auth = Authenticator(settings, sandbox_app)
    app.state.provisioner = provisioner
    app.add_middleware(SessionMiddleware, secret_key=session_secret(settings), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax",
                       https_only=settings.server.public_url.startswith("https://"))
    install_handlers(app)
    app.include_router(api.router)
    app.include_router(browser.router)
    _add_probes(app)
    web.install(app)  # the pages at / (after the API's handlers: it gives pages HTML errors)
    _secure_openapi(app)
    return app


def _add_probes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=schemas.Health, tags=["probes"], summary="The process answers")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Health, tags=["probes"],
             responses={503: {"model": schemas.Health}}, summary="Database reachable, migrations current")
    def readyz(request: Request):
        from sandbox.db import check_schema

        try:
            check_schema(request.app.state.sandbox.engine)
        except SandboxError as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        except Exception as exc:  # noqa: BLE001 - a probe reports, never raises
            return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
        return {"status": "ok"}


def _secure_openapi(app: FastAPI) -> None:
    """Declare the bearer scheme so /api/docs can send a token."""
    base = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = base()
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, methods in schema["paths"].items():
                if path.startswith("/api/") and path not in PUBLIC_API:
                    for operation in methods.values():
                        operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def session_secret(settings: Settings) -> str:
    """Shared by every replica without extra configuration: derived from the secrets key."""
    from sandbox.secrets import load_key

    explicit = os.environ.get("SANDBOX_SESSION_SECRET") or settings.server.session_secret
    if explicit:
        return explicit
    key = (load_key(settings) or "").split(",")[0].strip()
    if not key:
        raise ConfigError(f"{settings.source}: the server needs a secrets key (SANDBOX_SECRET_KEY or [secrets] "
                          "key) or [server] session_secret to sign sessions; make one: sandbox admin generate-key")
    return hmac.new(key.encode(), b"sandbox-cloud session cookie", hashlib.sha256).hexdigest()
