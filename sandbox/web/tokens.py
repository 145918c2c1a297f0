"""Personal API tokens: create (the secret shown this once), list with last use, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from sandbox import service
from sandbox.config import Identity
from sandbox.errors import UsageError
from sandbox.web.render import check_csrf, render, signed_in

router = APIRouter(include_in_schema=False)
Me = Annotated[Identity, Depends(signed_in)]


def _page(request: Request, me: Identity, *, created: dict | None = None, error: str | None = None,
          message: str | None = None, status: int = 200):
    rows = service.list_tokens(request.app.state.sandbox, me)
    # The page that shows a secret must not be kept by the browser or a proxy.
    headers = {"Cache-Control": "no-store"} if created else None
    return render(request, "tokens.html", me, status=status, headers=headers, tokens=rows, created=created,
                  error=error, message=message)


@router.get("/tokens")
def tokens_page(request: Request, me: Me, done: str = ""):
    return _page(request, me, message="Revoked." if done == "revoked" else None)


@router.post("/tokens")
def create_token(request: Request, me: Me, csrf: Annotated[str, Form(max_length=200)] = "",
                 name: Annotated[str, Form(max_length=64)] = "",
                 expires_in: Annotated[str, Form(max_length=40)] = "30d",
                 scope: Annotated[str, Form(pattern="^(read|write)$")] = "write"):
    check_csrf(request, csrf)
    try:
        created = service.create_token(request.app.state.sandbox, me, name, expires_in=expires_in, scope=scope)
    except UsageError as exc:
        return _page(request, me, error=" ".join(str(exc).split()), status=400)
    return _page(request, me, created=created)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, me: Me, csrf: Annotated[str, Form(max_length=200)] = ""):
    check_csrf(request, csrf)
    service.revoke_token(request.app.state.sandbox, me, token_id)
    return RedirectResponse("/tokens?done=revoked", 303)
