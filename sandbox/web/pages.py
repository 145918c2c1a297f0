"""The sandbox pages: mine, request, one sandbox (with its actions), approvals, all.

Each handler calls the service function the matching /api/v1 route calls; the service
decides who may do what and audits refusals. Every POST checks the form's CSRF token
first. A form that fails on bad input is shown again with the reason; other refusals
become the error pages of sandbox.web.errors."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse

from sandbox import service
from sandbox.config import Identity, Settings
from sandbox.errors import (IllegalTransitionError, NotFoundError, QuotaExceededError, TemplateError, UsageError)
from sandbox.lifecycle import FINAL_STATES
from sandbox.service.queries import DEFAULT_SORT, daily_spend, members_of
from sandbox.web import views
from sandbox.web.render import awaits_approval, check_csrf, render, signed_in

router = APIRouter(include_in_schema=False)
Me = Annotated[Identity, Depends(signed_in)]
Csrf = Annotated[str, Form(max_length=200)]
PAGE = 50
# What a redirect after an action may say: a fixed word, never text from the query string.
DONE = {"extended": "Extended.", "destroyed": "Destroyed: its cloud resources are gone.",
        "approved": "Approved: provisioning starts now.", "denied": "Denied.", "retried": "Queued again."}
FORM_ERRORS = (UsageError, TemplateError, QuotaExceededError)


def sandbox_app(request: Request):
    return request.app.state.sandbox


def require_manager(request: Request, me: Identity, action: str) -> None:
    from sandbox.service.access import require_manager_or_admin

    if me.is_admin or me.manages:  # no session for the common case: a page's every query counts
        return
    app = sandbox_app(request)
    with app.session() as session:
        require_manager_or_admin(session, me, action, now=app.now())


def decorate(request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """List rows with what the tables show beside the view: time left, budget, members."""
    app = sandbox_app(request)
    now = app.now()
    members = members_of(app, [r["id"] for r in rows])
    return [{**r, "left": views.time_left(r, now), "budget": views.budget(r), "members": members.get(r["id"], [])}
            for r in rows]


# ---- mine ----------------------------------------------------------------------------------

@router.get("/")
def my_sandboxes(request: Request, me: Me, cursor: Annotated[str | None, Query(max_length=500)] = None,
                 done: str = ""):
    page = service.list_sandbox_page(sandbox_app(request), me, mine=True, limit=PAGE, cursor=cursor)
    return render(request, "my.html", me, rows=decorate(request, page["items"]), next_cursor=page["next_cursor"],
                  first=cursor is None, message=DONE.get(done))


@router.get("/signed-out")
def signed_out(request: Request):
    return render(request, "signed_out.html", None)


# ---- request -------------------------------------------------------------------------------

@router.get("/request")
def request_form(request: Request, me: Me, template: Annotated[str, Query(max_length=200)] = ""):
    return _request_page(request, me, {"template": template}, None)


def _request_page(request: Request, me: Identity, values: dict[str, str], error: str | None, status: int = 200):
    rows = service.list_template_rows(sandbox_app(request).settings)
    asked = values.get("template", "")
    chosen: str = asked if any(r["name"] == asked for r in rows) else (rows[0]["name"] if rows else "")
    values = {"ttl": "", "members": "", "name": "", **values, "template": chosen}
    return render(request, "request.html", me, status=status, templates=rows, values=values, error=error,
                  domains=sandbox_app(request).settings.auth.allowed_domains)


@router.post("/request")
def request_submit(request: Request, me: Me, csrf: Csrf = "", template: Annotated[str, Form(max_length=200)] = "",
                   ttl: Annotated[str, Form(max_length=40)] = "", members: Annotated[str, Form(max_length=10000)] = "",
                   name: Annotated[str, Form(max_length=40)] = ""):
    check_csrf(request, csrf)
    values = {"template": template, "ttl": ttl, "members": members, "name": name}
    emails = [m for m in re.split(r"[\s,;]+", members) if m]
    try:
        view = service.request_sandbox(sandbox_app(request), me, template, ttl=ttl.strip() or None,
                                       members=emails, name=name.strip() or None)
    except FORM_ERRORS as exc:
        return _request_page(request, me, values, " ".join(str(exc).split()), status=400)
    request.app.state.provisioner.start(view)
    return RedirectResponse(f"/sandboxes/{view['id']}", 303)


# ---- one sandbox -----------------------------------------------------------------------------

@router.get("/sandboxes/{ref}")
def sandbox_page(request: Request, ref: str, me: Me, done: str = ""):
    return _detail(request, me, ref, message=DONE.get(done))


@router.get("/sandboxes/{ref}/status")
def sandbox_status(request: Request, ref: str, me: Me):
    """The part of the page that changes while it is provisioned; htmx polls it."""
    return render(request, "_status.html", me, **_status_context(request, me, service.show_sandbox(
        sandbox_app(request), me, ref)))


@router.get("/sandboxes/{ref}/timeline")
def sandbox_timeline(request: Request, ref: str, me: Me):
    """The event timeline alone; htmx polls it so approvals, extensions and sweeps show live."""
    app = sandbox_app(request)
    view = service.show_sandbox(app, me, ref)
    return render(request, "_timeline.html", me, s=view, events=service.list_events(app, me, view["id"]),
                  timeline_polling=_timeline_polling(view))


def _timeline_polling(view: dict[str, Any]) -> str | None:
    """A sandbox that is deleted or denied gets no more events: stop asking."""
    return None if view["state"] in FINAL_STATES else "every 3s"


def _status_context(request: Request, me: Identity, view: dict[str, Any]) -> dict[str, Any]:
    app = sandbox_app(request)
    template = _template(app.settings, view["template"])
    now = app.now()
    return {"s": view, "state_help": views.STATE_HELP, "left": views.time_left(view, now), "budget": views.budget(view),
            "next_steps": views.next_steps(view, template, app.settings.daemon.warn_before, now),
            "template": template, "awaiting": awaits_approval(view), "polling": _polling(view),
            "can_change": me.is_admin or me.email == view["owner"] or me.manages_department(view["department"]),
            "is_member": me.email in {m["email"] for m in view.get("members", [])}}


def _polling(view: dict[str, Any]) -> str | None:
    """How often the status part asks again: while something is under way, else never."""
    if awaits_approval(view):
        return "every 2s"
    return "every 1s" if view["state"] in views.IN_PROGRESS else None


def _template(settings, name: str) -> dict[str, Any] | None:
    try:
        return service.show_template(settings, name)
    except (TemplateError, NotFoundError):
        return None  # a template removed since: the sandbox still shows


def _detail(request: Request, me: Identity, ref: str, *, credentials: dict | None = None,
            message: str | None = None, error: str | None = None, status: int = 200):
    app = sandbox_app(request)
    view = service.show_sandbox(app, me, ref)
    events = service.list_events(app, me, view["id"])
    headers = {"Cache-Control": "no-store"} if credentials else None
    return render(request, "detail.html", me, status=status, headers=headers, events=events,
                  spend=daily_spend(app, view["id"]), credentials=credentials,
                  console=views.console_url(credentials) if credentials else None, access_of=views.access_of,
                  message=message, error=error, timeline_polling=_timeline_polling(view),
                  **_status_context(request, me, view))


@router.post("/sandboxes/{ref}/credentials")
def reveal_credentials(request: Request, ref: str, me: Me, csrf: Csrf = "",
                       member: Annotated[str, Form(max_length=254)] = ""):
    """A POST, not a link: reading credentials is audited, and a prefetch must not do it."""
    check_csrf(request, csrf)
    found = service.get_credentials(sandbox_app(request), me, ref, member or None)
    return _detail(request, me, ref, credentials=found)


@router.post("/sandboxes/{ref}/extend")
def extend(request: Request, ref: str, me: Me, csrf: Csrf = "", by: Annotated[str, Form(max_length=40)] = ""):
    check_csrf(request, csrf)
    try:
        view = service.extend_sandbox(sandbox_app(request), me, ref, by)
    except (UsageError, IllegalTransitionError) as exc:
        return _detail(request, me, ref, error=" ".join(str(exc).split()), status=400)
    return RedirectResponse(f"/sandboxes/{view['id']}?done=extended", 303)


@router.post("/sandboxes/{ref}/destroy")
def destroy(request: Request, ref: str, me: Me, csrf: Csrf = "", confirm: Annotated[str, Form(max_length=100)] = ""):
    check_csrf(request, csrf)
    view = service.show_sandbox(sandbox_app(request), me, ref)
    if confirm.strip() != view["name"]:
        return _detail(request, me, ref, status=400,
                       error=f"to destroy it, type its name exactly: {view['name']}")
    try:
        service.destroy_sandbox(sandbox_app(request), me, view["id"])
    except IllegalTransitionError as exc:
        return _detail(request, me, ref, error=" ".join(str(exc).split()), status=409)
    return RedirectResponse(f"/sandboxes/{view['id']}?done=destroyed", 303)


@router.post("/sandboxes/{ref}/approve")
def approve(request: Request, ref: str, me: Me, csrf: Csrf = "",
            reason: Annotated[str, Form(max_length=2000)] = ""):
    check_csrf(request, csrf)
    view = service.approve_sandbox(sandbox_app(request), me, ref, reason)
    request.app.state.provisioner.start(view)
    return RedirectResponse("/approvals?done=approved", 303)


@router.post("/sandboxes/{ref}/deny")
def deny(request: Request, ref: str, me: Me, csrf: Csrf = "", reason: Annotated[str, Form(max_length=2000)] = ""):
    check_csrf(request, csrf)
    service.deny_sandbox(sandbox_app(request), me, ref, reason)
    return RedirectResponse("/approvals?done=denied", 303)


# The orders All sandboxes offers (the service's sort keys), as a reader names them.
SORTS = {"-created": "newest first", "created": "oldest first", "expires": "expiring soonest",
         "-expires": "expiring last", "name": "name", "owner": "owner", "template": "template",
         "provider": "provider", "state": "state"}


@router.post("/sandboxes/{ref}/retry")
def retry(request: Request, ref: str, me: Me, csrf: Csrf = ""):
    check_csrf(request, csrf)
    view = service.retry_sandbox(sandbox_app(request), me, ref)
    request.app.state.provisioner.start(view)
    return RedirectResponse(f"/sandboxes/{view['id']}?done=retried", 303)


# ---- managers and admins -----------------------------------------------------------------------

@router.get("/approvals")
def approvals(request: Request, me: Me, done: str = ""):
    require_manager(request, me, "see the approval queue")
    page = service.list_sandbox_page(sandbox_app(request), me, mine=False, filters={"state": "requested"},
                                     limit=100)
    rows = [r for r in decorate(request, page["items"]) if awaits_approval(r)]
    return render(request, "approvals.html", me, rows=rows, message=DONE.get(done))


FILTERS = ("state", "owner", "department", "template", "provider")
# The template filter's names, by what the template files are now (path, mtime, size) and
# the enabled clouds: parsing every template file on each page was a sixth of what the
# page costs beyond the API's list call (bench/web_bench.py). A changed file reads again.
_TEMPLATE_NAMES: dict[tuple, list[str]] = {}


def template_names(settings: Settings) -> list[str]:
    try:
        files = tuple((str(p), st.st_mtime_ns, st.st_size) for d in settings.template_dirs()
                      for p in sorted(d.glob("*.toml")) for st in (p.stat(),))
    except (OSError, ValueError):  # a broken [templates] dirs entry: the service says what is wrong
        return [t["name"] for t in service.list_template_rows(settings)]
    key = (tuple(sorted(settings.clouds)), files)
    names = _TEMPLATE_NAMES.get(key)
    if names is None:
        if len(_TEMPLATE_NAMES) > 8:
            _TEMPLATE_NAMES.clear()
        names = _TEMPLATE_NAMES[key] = [t["name"] for t in service.list_template_rows(settings)]
    return names


@router.get("/sandboxes")
def all_sandboxes(request: Request, me: Me, state: str = "", owner: Annotated[str, Query(max_length=254)] = "",
                  department: str = "", template: str = "", provider: str = "", ended: bool = False,
                  cursor: Annotated[str | None, Query(max_length=500)] = None,
                  sort: Annotated[str, Query(max_length=20)] = DEFAULT_SORT):
    """The API's list query and keyset cursor: a page costs the same at row 10,000 as at row 1."""
    require_manager(request, me, "see all sandboxes")
    app = sandbox_app(request)
    filters: dict[str, str | None] = {"state": state, "owner": owner, "department": department,
                                      "template": template, "provider": provider}
    page = service.list_sandbox_page(app, me, mine=False, include_ended=ended, filters=filters, limit=PAGE,
                                     cursor=cursor, sort=sort)
    from sandbox.lifecycle import STATES

    options = {"state": list(STATES), "provider": sorted(app.settings.clouds),
               "template": template_names(app.settings),
               "department": sorted(app.settings.departments if me.is_admin else me.manages)}
    kept = {k: v for k, v in filters.items() if v}
    if ended:
        kept["ended"] = "true"
    if sort != DEFAULT_SORT:
        kept["sort"] = sort
    return render(request, "all.html", me, rows=decorate(request, page["items"]), filters=filters, ended=ended,
                  sort=sort, sorts=SORTS,
                  options=options, kept=kept, next_cursor=page["next_cursor"], first=cursor is None)
