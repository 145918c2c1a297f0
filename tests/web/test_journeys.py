"""What an engineer and a manager do in the browser, checked in the database and the clouds:
request an aws-individual and a gcp-group sandbox, watch them become active without a
reload, reveal credentials (audited), extend one, destroy the other; a manager approves
the request that needs it, and cannot approve their own."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import Session, select

from sandbox.models import Event, Member, Sandbox
from tests.e2e.helpers import account_tags, member_iam, ou_path_of

ACTIVE = ".status-line .state-active"


def row(app, sandbox_id: str) -> Sandbox:
    with Session(app.engine) as session:
        return session.get(Sandbox, sandbox_id)


def events(app, sandbox_id: str, action: str) -> list[Event]:
    with Session(app.engine) as session:
        return list(session.exec(select(Event).where(Event.sandbox_id == sandbox_id, Event.action == action)).all())


def request(page, template: str, *, ttl: str = "", members: str = "") -> str:
    page.goto("/request")
    page.check(f"#t-{template}")
    page.fill("#ttl", ttl)
    page.fill("#members", members)
    page.click("#request-form button[type=submit]")
    page.wait_for_url(re.compile(r"/sandboxes/[0-9a-f]{8}$"))
    return page.url.rsplit("/", 1)[1]


def csrf_of(page) -> str:
    return page.locator("input[name=csrf]").first.get_attribute("value")


def test_engineer_requests_watches_reveals_extends_destroys_and_manager_approves(web, api_server, aws_url,
                                                                                  gcp_emulator):
    app = api_server.app
    alice = web.sign_in("alice").page

    # An aws-individual: the page turns active by itself (htmx polling), without a reload.
    aws_id = request(alice, "aws-individual", ttl="3d")
    alice.evaluate("window.notReloaded = true")
    alice.wait_for_selector(ACTIVE, timeout=30_000)
    assert alice.evaluate("window.notReloaded") is True
    account = row(app, aws_id).cloud_id
    assert row(app, aws_id).state == "active" and ou_path_of(aws_url, account) == "/sandbox/active/engineering"
    assert alice.locator("#status").get_attribute("hx-trigger") is None  # polling stopped

    # Credentials on click, audited exactly as the API's route (one credentials_viewed event).
    assert events(app, aws_id, "credentials_viewed") == []
    alice.click("button:has-text('Reveal credentials')")
    console = alice.locator("a:has-text('Open the AWS console')")
    assert console.get_attribute("href") == f"https://{account}.signin.aws.amazon.com/console"
    assert "alice@example.com" in alice.locator("#credentials").inner_text()
    assert member_iam(aws_url, account).get_login_profile(UserName="alice@example.com")
    viewed = events(app, aws_id, "credentials_viewed")
    assert [e.actor for e in viewed] == ["alice@example.com"] and viewed[0].detail == {"member": "alice@example.com"}

    # Extend by 2d: the row, and the account's expiry tag in moto.
    before = row(app, aws_id).expires_at
    alice.fill("#extend-by", "2d")
    alice.click("button:has-text('Extend')")
    alice.wait_for_selector(".flash:has-text('Extended.')")
    after = row(app, aws_id)
    assert after.extension_count == 1 and after.expires_at - before >= timedelta(days=2) - timedelta(seconds=5)
    assert account_tags(aws_url, account)["sandbox-expires"] == after.expires_at.strftime("%Y-%m-%dT%H:%MZ")

    # A gcp-group with a member: it needs approval, so it waits.
    gcp_id = request(alice, "gcp-group", members="bob@example.com")
    alice.evaluate("window.notReloaded = true")
    alice.wait_for_selector(".status-line .state-requested")
    assert "approves or denies it" in alice.locator("#status").inner_text()
    assert row(app, gcp_id).state == "requested"

    # The manager of engineering sees it in the queue (and the badge) and approves it...
    erin_view = web.sign_in("erin")
    erin = erin_view.page
    erin.goto("/approvals")
    assert erin.locator("nav .badge").inner_text().startswith("1")
    erin.fill(f"#reason-{gcp_id}", "needed for the Q4 demo")
    erin.click(f"button:has-text('Approve'):has-text('{row(app, gcp_id).name}')")
    erin.wait_for_selector(".flash:has-text('Approved')")
    assert [e.detail.get("reason") for e in events(app, gcp_id, "approve")] == ["needed for the Q4 demo"]
    # ...and alice's page, still open, shows the approval in its timeline and turns active
    # without a reload.
    alice.wait_for_selector("#timeline li:has-text('needed for the Q4 demo')", timeout=15_000)
    alice.wait_for_selector(ACTIVE, timeout=30_000)
    assert alice.evaluate("window.notReloaded") is True
    gcp = row(app, gcp_id)
    assert gcp.state == "active" and gcp.approved_by == "erin@example.com"
    project = gcp_emulator.state.projects[gcp.cloud_id]
    assert project.state == "ACTIVE"
    with Session(app.engine) as session:
        assert {m.email for m in session.exec(select(Member).where(Member.sandbox_id == gcp_id))} == {
            "alice@example.com", "bob@example.com"}

    alice.click("button:has-text('Reveal credentials')")
    gcp_console = alice.locator("a:has-text('Open the Google Cloud console')").get_attribute("href")
    assert gcp_console == f"https://console.cloud.google.com/home/dashboard?project={gcp.cloud_id}"
    assert "roles/owner" in alice.locator("#credentials").inner_text()
    assert len(events(app, gcp_id, "credentials_viewed")) == 1

    # The requester cannot approve their own: no button, and a forged post is refused and audited.
    own_id = request(erin, "aws-group")
    erin.goto("/approvals")
    mine = erin.locator("tr", has_text=row(app, own_id).name)
    assert "another manager or an admin decides" in mine.inner_text() and mine.locator("button").count() == 0
    refused = erin.request.post(f"/sandboxes/{own_id}/approve", form={"csrf": csrf_of(erin)})
    assert refused.status == 403 and "another manager or admin must approve it" in refused.text()
    assert "<html" in refused.text() and "Traceback" not in refused.text()
    assert row(app, own_id).state == "requested" and row(app, own_id).approved_by is None
    assert [e.detail["attempted"] for e in events(app, own_id, "denied_access")] == ["approve"]

    # Destroy the GCP one: the name must be typed; a wrong one is refused by the server too.
    alice.goto(f"/sandboxes/{gcp_id}")
    destroy = alice.locator("button:has-text('Destroy')")
    alice.fill("#confirm", "not-its-name")
    assert destroy.is_disabled()
    wrong = alice.request.post(f"/sandboxes/{gcp_id}/destroy", form={"csrf": csrf_of(alice), "confirm": "nope"})
    assert wrong.status == 400 and row(app, gcp_id).state == "active"
    alice.fill("#confirm", gcp.name)
    destroy.click()
    alice.wait_for_selector(".flash:has-text('Destroyed')")
    assert row(app, gcp_id).state == "deleted"
    assert gcp_emulator.state.projects[gcp.cloud_id].state == "DELETE_REQUESTED"
    # A deleted sandbox gets no more events: its timeline stops polling.
    assert alice.get_attribute("#timeline", "hx-trigger") is None
    timeline = alice.request.get(f"/sandboxes/{gcp_id}/timeline")
    assert timeline.status == 200 and "destroy" in timeline.text() and "hx-trigger" not in timeline.text()
    assert row(app, aws_id).state == "active"  # the other one lives on

    # My sandboxes lists what is live, with time left and the budget.
    alice.goto("/")
    listed = alice.locator("table.list").inner_text()
    assert row(app, aws_id).name in listed and gcp.name not in listed
    assert "left" in alice.locator("time.countdown").first.inner_text()
    assert erin_view.csp_violations() == []

    # Signing out ends the session (and is not refused by the CSP's form-action on the way).
    alice.click("button:has-text('Sign out')")
    alice.wait_for_selector("h1:has-text('You are signed out')")
    assert alice.request.get("/", max_redirects=0).status == 303
    assert alice.request.get("/api/v1/me").status == 401
