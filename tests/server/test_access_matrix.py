"""Every route × every kind of caller, against a real server and a real OpenID provider:
the status each gets, and every refusal audited with the real caller."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from sandbox.models import Event
from tests.server.conftest import USERS, wait_for_state

CALLERS = ("none", "alice", "bob", "carol", "frank", "erin", "admin", "revoked", "expired")


@pytest.fixture
def world(api_server):
    alice = api_server.client("alice")
    active = alice.post("/api/v1/sandboxes", json={"template": "gcp-individual"}).json()
    pending = alice.post("/api/v1/sandboxes", json={"template": "gcp-group", "members": ["bob@example.com"]}).json()
    wait_for_state(alice, active["id"], "active")
    revoked = alice.post("/api/v1/tokens", json={"name": "revoked"}).json()
    assert alice.delete(f"/api/v1/tokens/{revoked['id']}").status_code == 200
    expired = alice.post("/api/v1/tokens", json={"name": "expired", "expires_in": "1s"}).json()
    time.sleep(1.1)
    tokens = {"revoked": revoked["token"], "expired": expired["token"]}

    def client(caller):
        if caller == "none":
            return api_server.client()
        if caller in tokens:
            return api_server.client(token=tokens[caller])
        return api_server.client(caller)

    return {"active": active["id"], "pending": pending["id"], "client": client, "server": api_server}


def last_event(app) -> Event:
    with app.session() as session:
        return session.exec(select(Event).order_by(Event.id.desc()).limit(1)).one()


def check(world, caller, method, path, expected, body=None):
    server = world["server"]
    before = last_event(server.app).id
    response = world["client"](caller).request(method, path.format(**world), json=body)
    assert response.status_code == expected, (caller, method, path, response.text)
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == expected and problem["detail"] and "Traceback" not in response.text
    if expected in (403, 404) and caller in USERS:
        event = last_event(server.app)
        assert event.id > before and event.action == "denied_access", (caller, path)
        assert event.actor == USERS[caller][0]
    return response


UNSIGNED = {"none": 401, "revoked": 401, "expired": 401}
READS = [
    # path, then the status for alice (owner), bob, carol, frank (manager elsewhere), erin (manager here), admin
    ("/api/v1/sandboxes/{active}", (200, 404, 404, 404, 200, 200)),
    ("/api/v1/sandboxes/{active}/events", (200, 404, 404, 404, 200, 200)),
    ("/api/v1/sandboxes/{active}/credentials", (200, 404, 404, 404, 403, 200)),
    ("/api/v1/sandboxes/{pending}", (200, 200, 404, 404, 200, 200)),
    ("/api/v1/reports/usage", (403, 403, 403, 200, 200, 200)),  # a manager: their departments only, below
    ("/api/v1/me", (200, 200, 200, 200, 200, 200)),
    ("/api/v1/templates", (200, 200, 200, 200, 200, 200)),
    ("/api/v1/tokens", (200, 200, 200, 200, 200, 200)),
    ("/api/v1/tokens?owner=bob@example.com", (403, 200, 403, 403, 403, 200)),
]
PEOPLE = ("alice", "bob", "carol", "frank", "erin", "admin")


def test_reads_by_every_caller(world):
    for path, statuses in READS:
        for caller in CALLERS:
            expected = UNSIGNED.get(caller) or dict(zip(PEOPLE, statuses))[caller]
            check(world, caller, "GET", path, expected)


def test_a_manager_reads_reports_over_their_own_departments_only(world):
    def usage(caller):
        return world["client"](caller).get("/api/v1/reports/usage").json()

    def audited_sandboxes(caller):
        return {e["sandbox_id"] for e in world["client"](caller).get("/api/v1/reports/audit").json()["events"]}

    # Both of alice's sandboxes are in engineering: erin manages it, frank manages finance.
    erin = usage("erin")
    assert erin["departments"] == ["engineering"]
    assert [(r["group"], r["requests"], r["active"], r["live"]) for r in erin["by_group"]] == [("engineering", 2, 1, 2)]
    assert erin["totals"]["requests"] == 2
    assert audited_sandboxes("erin") == {world["active"], world["pending"]}

    frank = usage("frank")
    assert frank["departments"] == ["finance"]
    assert frank["by_group"] == [] and frank["totals"]["requests"] == 0
    assert sum(r["sandboxes"] for r in frank["by_state"]) == 0
    assert audited_sandboxes("frank") == set()

    assert [r["group"] for r in usage("admin")["by_group"]] == ["engineering"] and "departments" not in usage("admin")


def test_writes_by_every_caller(world):
    # Refusals first (they change nothing), then the callers who may, in an order that works.
    for caller in ("none", "revoked", "expired"):
        for method, path in (("POST", "/api/v1/sandboxes/{active}/extend"), ("DELETE", "/api/v1/sandboxes/{active}"),
                             ("POST", "/api/v1/sandboxes/{pending}/approve"), ("POST", "/api/v1/sandboxes")):
            check(world, caller, method, path, 401, body={"by": "1h"} if "extend" in path else
                  {"template": "gcp-individual"} if path.endswith("sandboxes") else None)
    for caller in ("bob", "carol", "frank"):
        check(world, caller, "POST", "/api/v1/sandboxes/{active}/extend", 404, body={"by": "1h"})
        check(world, caller, "DELETE", "/api/v1/sandboxes/{active}", 404)
    for caller, status in (("alice", 403), ("bob", 403), ("carol", 404), ("frank", 404)):
        check(world, caller, "POST", "/api/v1/sandboxes/{pending}/approve", status)
        check(world, caller, "POST", "/api/v1/sandboxes/{pending}/deny", status, body={"reason": "no"})
    for caller in ("alice", "erin"):
        check(world, caller, "POST", "/api/v1/sandboxes/{active}/retry", 403)
    check(world, "admin", "POST", "/api/v1/sandboxes/{active}/retry", 409)  # not failed

    for caller in ("alice", "erin"):
        assert check(world, caller, "POST", "/api/v1/sandboxes/{active}/extend", 200,
                     body={"by": "1h"}).json()["extension_count"] in (1, 2)
    approved = check(world, "erin", "POST", "/api/v1/sandboxes/{pending}/approve", 200,
                     body={"reason": "for the demo"}).json()
    assert approved["approved_by"] == "erin@example.com"
    events = check(world, "erin", "GET", "/api/v1/sandboxes/{pending}/events", 200).json()
    assert [e["detail"].get("reason") for e in events if e["action"] == "approve"] == ["for the demo"]
    assert check(world, "erin", "DELETE", "/api/v1/sandboxes/{active}", 200).json()["state"] == "deleted"


def test_a_read_only_token_reads_but_never_writes(world):
    server = world["server"]
    alice = server.client("alice")
    token = alice.post("/api/v1/tokens", json={"name": "ci", "scope": "read"}).json()["token"]
    reader = server.client(token=token)
    assert reader.get("/api/v1/sandboxes/{active}".format(**world)).status_code == 200
    refused = reader.post("/api/v1/sandboxes/{active}/extend".format(**world), json={"by": "1h"})
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    event = last_event(server.app)
    assert (event.actor, event.action) == ("alice@example.com", "denied_access")
    listed = {t["name"]: t for t in alice.get("/api/v1/tokens").json()}
    # Stamped when the reader used it: after it was made, not later than now (the server's real clock).
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed["ci"]["created_at"] <= listed["ci"]["last_used_at"] <= now and "token" not in listed["ci"]


def test_the_list_route_pages_in_the_order_asked(world):
    admin = world["client"]("admin")
    names, cursor = [], None
    while True:
        page = admin.get("/api/v1/sandboxes", params={"sort": "-name", "limit": 1,
                                                      **({"cursor": cursor} if cursor else {})}).json()
        names += [s["name"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(names) == 2 and names == sorted(names, reverse=True)
    first = admin.get("/api/v1/sandboxes", params={"sort": "-name", "limit": 1}).json()["next_cursor"]
    other_order = admin.get("/api/v1/sandboxes", params={"cursor": first})  # the default, -created
    assert other_order.status_code == 400 and "order" in other_order.json()["detail"]
    unknown = admin.get("/api/v1/sandboxes", params={"sort": "secret"})
    assert unknown.status_code == 422 and unknown.headers["content-type"].startswith("application/problem+json")
