"""JSON routes under /api/v1. Each checks who is calling, then calls one service function;
the service decides what that caller may do (and audits every refusal).

Routes are `async def` and hand the (blocking) service call to a worker thread
themselves: FastAPI validates a sync route's response in a second worker thread, and
that extra hop cost more than the work of /me (bench/server_bench.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic_core import to_json

from sandbox import service
from sandbox.errors import UsageError
from sandbox.server import schemas
from sandbox.server.auth import Caller
from sandbox.server.oidc import WouldBlock
from sandbox.service.queries import DEFAULT_SORT, SORT_KEYS

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 422, 429, 503)}
router = APIRouter(prefix="/api/v1", responses=PROBLEMS)


async def caller(request: Request) -> Caller:
    """On the event loop when no I/O is needed (a thread hop costs more than checking a
    JWT signature); in a worker thread otherwise."""
    auth = request.app.state.auth
    try:
        who = auth.caller(request, blocking=False)
    except WouldBlock:
        who = await run_in_threadpool(auth.caller, request)
    refuse_nul(request)
    return who


def refuse_nul(request: Request) -> None:
    """A NUL character in a path or query parameter is bad input, not a database error (PostgreSQL text
    cannot hold one, and the parameter would reach a WHERE clause). Checked after authentication, so
    that whoever is not signed in still gets 401."""
    values = [*request.path_params.values(), *request.query_params.values()]
    if any("\x00" in str(value) for value in values):
        raise UsageError("a path or query parameter contains a NUL character")


async def writer(request: Request, who: Annotated[Caller, Depends(caller)]) -> Caller:
    """A read-only API token may not change anything; the attempt is audited."""
    if who.scope != "write":
        await run_in_threadpool(refuse_read_only, request, who)
    return who


def refuse_read_only(request: Request, who: Caller) -> None:
    from sandbox.service.access import refuse

    app = request.app.state.sandbox
    with app.session() as session:
        refuse(session, who.identity, f"{request.method} {request.url.path} with a read-only token", None,
               app.now(), "this API token is read-only; create one with scope write")


Reader = Annotated[Caller, Depends(caller)]
Writer = Annotated[Caller, Depends(writer)]


def sandbox_app(request: Request):
    return request.app.state.sandbox


# ---- sign-in, who am I, templates -------------------------------------------------------

@router.get("/auth/config", response_model=schemas.SignInConfig, summary="How the CLI signs in (public)")
def sign_in_config(request: Request):
    auth = sandbox_app(request).settings.auth
    return {"issuer": auth.issuer.rstrip("/"), "client_id": auth.cli_client_id or auth.client_id,
            "client_secret": auth.cli_client_secret, "scopes": "openid email profile"}


@router.get("/me", response_model=schemas.MeOut, summary="The signed-in caller")
async def me(request: Request, who: Reader):
    app = sandbox_app(request)
    return {**await run_in_threadpool(service.describe_caller, app, who.identity), "via": who.via}


@router.get("/templates", response_model=list[schemas.TemplateRow], summary="Templates one may request")
async def templates(request: Request, _who: Reader):
    return await run_in_threadpool(service.list_template_rows, sandbox_app(request).settings)


@router.get("/templates/{name}", response_model=schemas.TemplateOut, summary="One template in full")
async def template(request: Request, name: str, _who: Reader):
    return await run_in_threadpool(service.show_template, sandbox_app(request).settings, name)


# ---- sandboxes -------------------------------------------------------------------------

SORT_PATTERN = f"^-?({'|'.join(SORT_KEYS)})$"
SORT_HELP = (f"The order: one of {', '.join(SORT_KEYS)}; a leading '-' is descending. A cursor "
             "belongs to the order it was made in.")

@router.post("/sandboxes", status_code=201, response_model=schemas.SandboxOut, summary="Request a sandbox")
async def create_sandbox(request: Request, body: schemas.SandboxRequest, who: Writer):
    app = sandbox_app(request)
    view = await run_in_threadpool(service.request_sandbox, app, who.identity, body.template, ttl=body.ttl, members=body.members,
                                   name=body.name)
    request.app.state.provisioner.start(view)
    return view


@router.get("/sandboxes", response_model=schemas.SandboxPage, summary="Sandboxes the caller may see")
async def sandboxes(request: Request, who: Reader,
              scope: Annotated[str, Query(pattern="^(mine|visible)$",
                                          description="mine: owned or shared; visible: all one may see")] = "visible",
              include_ended: bool = False,
              state: str | None = None, owner: str | None = None, template: str | None = None,
              provider: str | None = None, department: str | None = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100,
              cursor: Annotated[str | None, Query(max_length=500)] = None,
              sort: Annotated[str, Query(pattern=SORT_PATTERN, description=SORT_HELP)] = DEFAULT_SORT):
    filters = {"state": state, "owner": owner, "template": template, "provider": provider,
               "department": department}
    page = await run_in_threadpool(service.list_sandbox_page, sandbox_app(request), who.identity, mine=scope == "mine",
                                   include_ended=include_ended, filters=filters, limit=limit, cursor=cursor,
                                   sort=sort)
    # Sent as built, not validated again against SandboxPage: the rows are sandbox_view's,
    # whose shape the schemathesis tests hold to the schema, and validating 50 of them was a
    # fifth of the page's cost (bench/server_bench.py). pydantic-core writes the JSON.
    return Response(to_json(page), media_type="application/json")


@router.get("/sandboxes/{ref}", response_model=schemas.SandboxDetail, summary="One sandbox in full")
async def sandbox(request: Request, ref: str, who: Reader):
    return await run_in_threadpool(service.show_sandbox, sandbox_app(request), who.identity, ref)


@router.get("/sandboxes/{ref}/events", response_model=list[schemas.EventOut], summary="Its audit trail")
async def sandbox_events(request: Request, ref: str, who: Reader):
    return await run_in_threadpool(service.list_events, sandbox_app(request), who.identity, ref)


@router.get("/sandboxes/{ref}/credentials", response_model=schemas.CredentialsOut,
            summary="How to sign in (audited)")
async def sandbox_credentials(request: Request, ref: str, who: Reader,
                        member: Annotated[str | None, Query(max_length=254)] = None):
    return await run_in_threadpool(service.get_credentials, sandbox_app(request), who.identity, ref, member)


@router.post("/sandboxes/{ref}/extend", response_model=schemas.SandboxOut, summary="Push expiry out")
async def extend(request: Request, ref: str, body: schemas.ExtendRequest, who: Writer):
    return await run_in_threadpool(service.extend_sandbox, sandbox_app(request), who.identity, ref, body.by)


@router.delete("/sandboxes/{ref}", response_model=schemas.SandboxOut, summary="Destroy a sandbox")
async def destroy(request: Request, ref: str, who: Writer):
    return await run_in_threadpool(service.destroy_sandbox, sandbox_app(request), who.identity, ref)


@router.post("/sandboxes/{ref}/approve", response_model=schemas.SandboxOut, summary="Approve a request")
async def approve(request: Request, ref: str, who: Writer, body: schemas.ReasonRequest | None = None):
    reason = body.reason if body else ""
    view = await run_in_threadpool(service.approve_sandbox, sandbox_app(request), who.identity, ref, reason)
    request.app.state.provisioner.start(view)
    return view


@router.post("/sandboxes/{ref}/deny", response_model=schemas.SandboxOut, summary="Deny a request")
async def deny(request: Request, ref: str, body: schemas.ReasonRequest, who: Writer):
    return await run_in_threadpool(service.deny_sandbox, sandbox_app(request), who.identity, ref, body.reason)


@router.post("/sandboxes/{ref}/budget", response_model=schemas.SandboxOut,
             summary="Set its budget (admins; a budget freeze ends once under it)")
async def set_budget(request: Request, ref: str, body: schemas.BudgetRequest, who: Writer):
    return await run_in_threadpool(service.set_budget, sandbox_app(request), who.identity, ref, body.to_usd)


@router.post("/sandboxes/{ref}/retry", response_model=schemas.SandboxOut, summary="Re-queue a failed sandbox")
async def retry(request: Request, ref: str, who: Writer):
    view = await run_in_threadpool(service.retry_sandbox, sandbox_app(request), who.identity, ref)
    request.app.state.provisioner.start(view)
    return view


# ---- reports ---------------------------------------------------------------------------

REPORT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8",
                "table": "text/plain; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8"}


@router.get("/reports/{kind}", summary="A report: usage, cost, expiring, compliance or audit",
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}},
                                         "text/csv": {"schema": {"type": "string"}},
                                         "text/html": {"schema": {"type": "string"}},
                                         "text/plain": {"schema": {"type": "string"}},
                                         "text/tab-separated-values": {"schema": {"type": "string"}}}}})
async def report(request: Request, kind: str, who: Reader,
           format: Annotated[str, Query(pattern="^(json|csv|html|table|tsv)$")] = "json",
           since: str | None = None, until: str | None = None, group_by: str | None = None,
           days: str | None = None, sandbox: str | None = None, actor: str | None = None,
           action: str | None = None) -> Response:
    from sandbox.reports import render_report

    text = await run_in_threadpool(render_report, sandbox_app(request), who.identity, kind, since=since, until=until, group_by=group_by,
                         fmt=format, days=days, sandbox=sandbox, actor=actor, action=action)
    return Response(text, media_type=REPORT_TYPES[format])


# ---- personal API tokens ---------------------------------------------------------------

@router.get("/tokens", response_model=list[schemas.TokenOut], summary="The caller's API tokens")
async def tokens(request: Request, who: Reader,
           owner: Annotated[str | None, Query(max_length=254, description="admins: another's, or *")] = None):
    return await run_in_threadpool(service.list_tokens, sandbox_app(request), who.identity, owner=owner)


@router.post("/tokens", status_code=201, response_model=schemas.TokenCreated,
             summary="Create an API token (its secret is shown once)")
async def create_token(request: Request, body: schemas.TokenRequest, who: Writer):
    return await run_in_threadpool(service.create_token, sandbox_app(request), who.identity, body.name, expires_in=body.expires_in,
                                scope=body.scope)


@router.delete("/tokens/{token_id}", response_model=schemas.TokenOut, summary="Revoke an API token")
async def revoke_token(request: Request, token_id: str, who: Writer):
    return await run_in_threadpool(service.revoke_token, sandbox_app(request), who.identity, token_id)


