"""Every page: the security headers, no inline script or style, no CSP violation, no
serious or critical axe-core finding, usable at 375 px and 1280 px (no sideways scroll),
a screenshot of each at both widths; and the read-only pages without JavaScript."""

from __future__ import annotations

from tests.server.conftest import wait_for_state
from tests.web.conftest import DESKTOP, PHONE, axe_serious


def seed(api_server) -> dict[str, dict]:
    """An active sandbox, a request awaiting approval, a token: something on every page."""
    alice = api_server.client("alice")
    active = alice.post("/api/v1/sandboxes", json={"template": "aws-individual"}).json()
    waiting = alice.post("/api/v1/sandboxes", json={"template": "gcp-group", "members": ["bob@example.com"]}).json()
    assert api_server.client("admin").post("/api/v1/tokens", json={"name": "nightly"}).status_code == 201
    wait_for_state(alice, active["id"], "active")
    return {"active": active, "waiting": waiting}


def test_every_page_is_secure_accessible_and_responsive(web, api_server, screenshots, request):
    made = seed(api_server)
    admin = web.sign_in("admin")
    page = admin.page
    pages = {"mine": "/", "request": "/request", "all": "/sandboxes?ended=true", "approvals": "/approvals",
             "detail": f"/sandboxes/{made['active']['id']}", "waiting": f"/sandboxes/{made['waiting']['id']}",
             "tokens": "/tokens", "audit": "/audit", "not-found": "/sandboxes/ffffffff", "signed-out": "/signed-out",
             **{f"report-{k}": f"/reports/{k}" for k in ("usage", "cost", "expiring", "compliance", "audit")}}
    db = request.node.callspec.params["db_url"]
    # The markup is the database's rows in the same templates: axe and the screenshots once
    # (on SQLite) keep the run short; headers, inline content and widths are checked on both.
    thorough = db == "sqlite"
    problems = []
    for name, path in pages.items():
        page.set_viewport_size(DESKTOP)
        response = page.goto(path)
        assert response.status == (404 if name == "not-found" else 200), (path, response.status)
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"]
        inline = page.evaluate("""() => [document.querySelectorAll('script:not([src])').length,
                                         document.querySelectorAll('[style]').length,
                                         document.querySelectorAll('style').length]""")
        assert inline == [0, 0, 0], (path, inline)
        if thorough:
            problems += [f"{path}: {v}" for v in axe_serious(page)]
            page.screenshot(path=str(screenshots / f"{name}-1280.png"), full_page=True)
        page.set_viewport_size(PHONE)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{path} scrolls sideways at 375 px ({wide} px)"
        if thorough:
            page.screenshot(path=str(screenshots / f"{name}-375.png"), full_page=True)
    assert problems == []
    # Keyboard: the first Tab reaches the skip link, and focus is drawn.
    page.set_viewport_size(DESKTOP)
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => { const el = document.activeElement;
                                       return [el.className, getComputedStyle(el).outlineStyle]; }""")
    assert focused == ["skip", "solid"]
    assert admin.csp_violations() == []
    assert page.locator("nav .badge").inner_text().startswith("1")  # the gcp-group waits


def test_the_read_only_pages_render_without_javascript(web, api_server):
    made = seed(api_server)
    alice = web.sign_in("alice", javascript=False).page
    alice.goto("/")
    assert made["active"]["name"] in alice.locator("table.list").inner_text()
    alice.goto(f"/sandboxes/{made['active']['id']}")
    assert "ready to use" in alice.locator("#status").inner_text()
    assert "provisioned" in alice.locator(".timeline").inner_text()
    admin = web.sign_in("admin", javascript=False).page
    admin.goto("/sandboxes")
    assert made["waiting"]["name"] in admin.locator("table.list").inner_text()
    admin.goto("/reports/usage")
    assert admin.locator("svg.chart").count() == 3 and admin.locator("table.numbers").count() >= 3
    admin.goto("/audit")
    assert "request" in admin.locator("table.numbers").first.inner_text()
    # Forms work without JavaScript too: an API token, shown once, that works until revoked.
    admin.goto("/tokens")
    admin.fill("#tok-name", "from-the-browser")
    admin.click("button:has-text('Create token')")
    secret = admin.locator("#new-token").input_value()
    assert api_server.client(token=secret).get("/api/v1/me").json()["email"] == "admin@example.com"
    admin.goto("/tokens")
    assert secret not in admin.content() and "from-the-browser" in admin.locator("table.list").inner_text()
    admin.click("button:has-text('Revoke'):has-text('from-the-browser')")
    assert "Revoked." in admin.locator(".flash").inner_text()
    assert api_server.client(token=secret).get("/api/v1/me").status_code == 401
