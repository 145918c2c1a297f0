"""The web UI: server-rendered pages on the API's FastAPI app, calling the same service
functions as sandbox/server/api.py. Every asset is vendored under static/ (htmx, our CSS
and a little script); nothing is loaded from another origin, and nothing is built.

    install(app)  # after the API's error handlers are installed: pages get HTML errors
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")


def install(app: FastAPI) -> None:
    from sandbox.web import errors, pages, reports, tokens
    from sandbox.web.security import SecurityHeaders

    app.include_router(pages.router)
    app.include_router(reports.router)
    app.include_router(tokens.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    app.add_middleware(SecurityHeaders)
