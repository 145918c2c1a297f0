"""Browser sign-in: authorization code + PKCE against the real provider, a signed
HttpOnly SameSite=Lax session cookie, and CSRF protection on state-changing requests."""

from __future__ import annotations

import httpx


def sign_in(api_server, user: str = "alice") -> httpx.Client:
    email, groups = {"alice": ("alice@example.com", ["eng"])}[user]
    api_server.provider.set_user(user, email, groups=groups)
    browser = httpx.Client(base_url=api_server.url, timeout=30)
    to_idp = browser.get("/auth/login", params={"next": "/api/v1/me"})
    assert to_idp.status_code == 303
    authorize = to_idp.headers["location"]
    assert "code_challenge_method=S256" in authorize and "nonce=" in authorize
    back = httpx.post(authorize, data={"sub": user})  # the person picks their account
    landed = browser.get(back.headers["location"])
    assert landed.status_code == 303 and landed.headers["location"] == "/api/v1/me"
    cookie = landed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    return browser


def test_browser_sign_in_gives_a_session_that_needs_csrf_to_change_anything(api_server):
    browser = sign_in(api_server)
    me = browser.get("/api/v1/me").json()
    assert me["email"] == "alice@example.com" and me["via"] == "session"
    refused = browser.post("/api/v1/sandboxes", json={"template": "gcp-individual"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert browser.get("/api/v1/sandboxes").json()["items"] == []
    page = browser.get("/auth/whoami")
    csrf = page.text.split("name=csrf value='")[1].split("'")[0]
    made = browser.post("/api/v1/sandboxes", json={"template": "gcp-individual"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    assert browser.post("/auth/logout", data={"csrf": "wrong"}).status_code == 403
    assert browser.post("/auth/logout", data={"csrf": csrf}).status_code == 303
    assert browser.get("/api/v1/me").status_code == 401


def test_a_forged_or_replayed_callback_makes_no_session(api_server):
    browser = httpx.Client(base_url=api_server.url, timeout=30)
    stale = browser.get("/auth/callback", params={"code": "x", "state": "y"})
    assert stale.status_code == 400 and browser.get("/api/v1/me").status_code == 401
    # A tampered cookie is not a session.
    signed_in = sign_in(api_server)
    value = signed_in.cookies.get("sandbox_session")
    forged = httpx.Client(base_url=api_server.url, cookies={"sandbox_session": value[:-4] + "AAAA"})
    assert forged.get("/api/v1/me").status_code == 401
    # ?next= never leaves the server.
    away = browser.get("/auth/login", params={"next": "//evil.example/"})
    assert away.status_code == 303
