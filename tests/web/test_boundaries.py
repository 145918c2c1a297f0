"""What the pages refuse: another's sandbox and the admin pages (error pages, not data),
forms without their CSRF token, hostile text (shown as text); and a failure that becomes
a friendly 500 page whose request id is in the server log."""

from __future__ import annotations

import logging
from urllib.parse import quote

from sqlmodel import Session, select

from sandbox.models import Event, Sandbox
from tests.server.conftest import wait_for_state

HOSTILE = "<script>window.pwned=1</script></svg>\"' onmouseover=x \u202egnp.exe\u202c"


def count_sandboxes(app, owner: str) -> int:
    with Session(app.engine) as session:
        return len(session.exec(select(Sandbox).where(Sandbox.owner == owner)).all())


def test_an_engineer_gets_error_pages_not_data_and_forms_need_csrf(web, api_server, caplog):
    app = api_server.app
    made = api_server.client("alice").post("/api/v1/sandboxes", json={"template": "gcp-group", "name": "secret-plan"})
    assert made.status_code == 201
    alices = made.json()
    bob = web.sign_in("bob").page

    seen = bob.goto(f"/sandboxes/{alices['id']}")
    assert seen.status == 404 and "Not found" in bob.title()
    text = bob.locator("main").inner_text()
    assert "secret-plan" not in bob.content() and "alice@example.com" not in bob.content()
    assert seen.headers["x-request-id"] in text  # the id the server log has
    # The error page keeps bob's own navigation (a way on), and nothing he may not use.
    assert bob.locator("nav a:has-text('My sandboxes')").count() == 1
    assert "bob@example.com" in bob.locator(".who").inner_text()
    assert bob.locator("nav a:has-text('Audit log')").count() == 0
    timeline = bob.request.get(f"/sandboxes/{alices['id']}/timeline")  # nor its polled parts
    assert timeline.status == 404 and "secret-plan" not in timeline.text()
    for path in ("/audit", "/sandboxes", "/approvals", "/reports", "/reports/cost"):
        refused = bob.goto(path)
        assert refused.status == 403, path
        assert "Not allowed" in bob.title() and "only" in bob.locator("main").inner_text()
        assert "secret-plan" not in bob.content() and "Traceback" not in bob.content()
    with Session(app.engine) as session:
        refusals = session.exec(select(Event).where(Event.actor == "bob@example.com",
                                                    Event.action == "denied_access")).all()
    assert {r.detail["attempted"] for r in refusals} >= {"see", "read the audit log", "see all sandboxes"}

    bob.goto("/")
    assert bob.locator("nav a:has-text('Audit log')").count() == 0  # nor offered in the navigation
    # Forms without their token, or with another, change nothing.
    csrf = bob.locator("input[name=csrf]").first.get_attribute("value")
    before = count_sandboxes(app, "bob@example.com")
    for form in ({"template": "gcp-individual"}, {"template": "gcp-individual", "csrf": "forged"}):
        answer = bob.request.post("/request", form=form)
        assert answer.status == 403 and "CSRF" in answer.text()
    assert bob.request.post("/tokens", form={"name": "ci"}).status == 403
    assert count_sandboxes(app, "bob@example.com") == before
    assert bob.request.post("/request", form={"template": "gcp-individual", "csrf": csrf},
                            max_redirects=0).status == 303
    assert count_sandboxes(app, "bob@example.com") == before + 1

    # A page that fails is a friendly 500 whose request id the server log has; no trace, no secret.
    def broken():
        raise RuntimeError("password=hunter2 must never be shown")

    api_server.asgi.add_api_route("/broken", broken, include_in_schema=False)
    with caplog.at_level(logging.INFO, logger="sandbox.server"):
        failed = bob.goto("/broken")
    assert failed.status == 500 and "Something went wrong" in bob.title()
    request_id = failed.headers["x-request-id"]
    assert request_id in bob.locator("main").inner_text()
    assert "hunter2" not in bob.content() and "Traceback" not in bob.content()
    assert any(f"request_id={request_id}" in r.getMessage() and "RuntimeError" in r.getMessage()
               for r in caplog.records)
    assert "default-src 'none'" in failed.headers["content-security-policy"]

    # Signed out, a page sends the browser to sign in and back.
    anonymous = web.browser.new_context(base_url=web.url)
    try:
        away = anonymous.request.get("/sandboxes?state=active", max_redirects=0)
        assert away.status == 303 and away.headers["location"] == "/auth/login?next=%2Fsandboxes%3Fstate%3Dactive"
        # An expired session under htmx polling reloads the whole page (which then signs in)
        # instead of swapping the provider's sign-in page into the polled part.
        polled = anonymous.request.get(f"/sandboxes/{alices['id']}/timeline", headers={"HX-Request": "true"},
                                       max_redirects=0)
        assert polled.status == 200 and polled.headers["hx-refresh"] == "true" and polled.text() == ""
    finally:
        anonymous.close()


def test_hostile_text_renders_as_text(web, api_server):
    request = api_server.client("alice").post("/api/v1/sandboxes", json={"template": "gcp-group"}).json()
    admin_view = web.sign_in("admin")
    admin = admin_view.page
    # A deny reason is free text: it shows in the timeline as it was typed.
    admin.goto("/approvals")
    admin.fill(f"#reason-{request['id']}", HOSTILE)
    admin.click(f"button:has-text('Deny'):has-text('{request['name']}')")
    admin.wait_for_selector(".flash:has-text('Denied')")
    admin.goto(f"/sandboxes/{request['id']}")
    assert HOSTILE in admin.locator(".timeline").inner_text()
    # Query and form values come back escaped too: a filter, a refused TTL.
    admin.goto("/sandboxes?owner=" + quote(HOSTILE))
    assert admin.locator("#f-owner").input_value() == HOSTILE
    admin.goto("/request")
    admin.check("#t-gcp-individual")
    short = "<script>x()</script>\"'\u202e1d"  # the field takes 40 characters
    admin.fill("#ttl", short)
    with admin.expect_navigation():  # past the browser's own checks: the server must refuse it
        admin.evaluate("document.querySelector('#request-form').submit()")
    assert "is not a duration" in admin.locator(".alert").inner_text()
    assert admin.locator("#ttl").input_value() == short
    for page_html in (admin.content(),):
        assert "<script>window.pwned" not in page_html
    assert admin.evaluate("window.pwned") is None
    assert admin.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    assert admin_view.csp_violations() == []


def test_an_admin_retries_a_failed_sandbox_from_all_sandboxes(web, api_server):
    alice = api_server.client("alice")
    made = alice.post("/api/v1/sandboxes", json={"template": "gcp-individual"}).json()
    first = wait_for_state(alice, made["id"], "active")
    with Session(api_server.app.engine) as session:  # as if its last step had failed for good
        row = session.get(Sandbox, made["id"])
        row.state = "failed"
        session.add(row)
        session.commit()
    admin = web.sign_in("admin").page
    admin.goto("/sandboxes?state=failed")
    admin.click(f"button:has-text('Retry'):has-text('{made['name']}')")
    admin.wait_for_selector(".flash:has-text('Queued again')")
    # The provision resumes from its saved steps: the same project, active again.
    view = wait_for_state(alice, made["id"], "active")
    assert view["cloud_id"] == first["cloud_id"]
    with Session(api_server.app.engine) as session:
        [retried] = session.exec(select(Event).where(Event.sandbox_id == made["id"], Event.action == "retry")).all()
    assert retried.actor == "admin@example.com" and (retried.from_state, retried.to_state) == ("failed", "provisioning")

    # All sandboxes sorts by what the admin picks, without JavaScript needed (a GET form).
    assert alice.post("/api/v1/sandboxes", json={"template": "gcp-individual"}).status_code == 201
    admin.goto("/sandboxes?ended=true&sort=name")
    assert admin.locator("#f-sort").input_value() == "name"  # kept for the next filter
    names = admin.locator("table.list tbody td[data-label=Name]").all_inner_texts()
    assert len(names) >= 2 and names == sorted(names)
    assert "name" in admin.locator("table.list caption").inner_text()
    assert admin.goto("/sandboxes?sort=secret").status == 400


def test_an_admin_reveals_the_credentials_of_a_member_they_choose(web, api_server):
    alice, admin_api = api_server.client("alice"), api_server.client("admin")
    made = alice.post("/api/v1/sandboxes", json={"template": "gcp-group", "members": ["bob@example.com"]}).json()
    assert admin_api.post(f"/api/v1/sandboxes/{made['id']}/approve").status_code == 200
    wait_for_state(alice, made["id"], "active")

    owner = web.sign_in("alice").page
    owner.goto(f"/sandboxes/{made['id']}")
    assert owner.locator("#reveal-member").count() == 0  # only admins choose whose

    admin = web.sign_in("admin").page
    admin.goto(f"/sandboxes/{made['id']}")
    admin.select_option("#reveal-member", "bob@example.com")
    admin.click("button:has-text('Reveal credentials')")
    assert admin.locator("#cred-title").inner_text() == "Credentials for bob@example.com"
    with Session(api_server.app.engine) as session:
        [viewed] = session.exec(select(Event).where(Event.sandbox_id == made["id"],
                                                    Event.action == "credentials_viewed")).all()
    assert viewed.actor == "admin@example.com" and viewed.detail == {"member": "bob@example.com"}
