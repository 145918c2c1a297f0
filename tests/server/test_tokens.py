"""Forged and wrong tokens get 401; nothing a client says about itself changes who it is."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from tests.oidc import claims_for, sign_with_new_key, unsigned_token


def public_key_pem(issuer: str) -> bytes:
    import httpx
    from cryptography.hazmat.primitives import serialization

    jwk = httpx.get(f"{issuer}/jwks").json()["keys"][0]
    key = jwt.PyJWK(jwk).key
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def tampered(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def hs256_with_public_key(claims: dict, pem: bytes) -> str:
    """The classic confusion attack: HMAC keyed with the issuer's public key."""
    import hashlib
    import hmac

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_forged_and_wrong_tokens_are_refused(api_server):
    provider = api_server.provider
    issuer = provider.issuer
    genuine = api_server.token("alice")
    assert api_server.client(token=genuine).get("/api/v1/me").json()["email"] == "alice@example.com"
    import time

    now = int(time.time())
    forged = {
        "alg none": unsigned_token(claims_for(issuer)),
        "HS256 keyed with the public key": hs256_with_public_key(claims_for(issuer), public_key_pem(issuer)),
        "unknown kid": sign_with_new_key(claims_for(issuer), kid="not-the-issuers"),
        "another key, no kid": sign_with_new_key(claims_for(issuer)),
        "tampered payload": tampered(genuine, email="admin@example.com"),
        "wrong iss": tampered(genuine, iss="http://evil.example"),
        "wrong aud": provider.id_token("alice", client_id="someone-else"),
        "a second issuer": sign_with_new_key(claims_for("http://localhost:1")),
        "expired": tampered(genuine, exp=now - 3600),
        "not yet valid": tampered(genuine, nbf=now + 3600),
        "outside the allowed domains": provider.id_token("mallory", "mallory@gmail.com"),
        "email not verified": provider.id_token("eve", "eve@example.com", email_verified=False),
        "garbage": "not-a-token",
        "unknown API token": "sbx_0123456789abcdef_" + "x" * 40,
    }
    for name, token in forged.items():
        response = api_server.client(token=token).get("/api/v1/me")
        assert response.status_code == 401, (name, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["exit_code"] == 3


def test_identity_headers_body_fields_and_plus_addresses_change_nothing(api_server):
    alice = api_server.client("alice")
    spoofed = {"X-Forwarded-User": "admin@example.com", "X-Forwarded-Email": "admin@example.com",
               "X-Remote-User": "admin@example.com", "X-User": "admin@example.com"}
    me = alice.get("/api/v1/me", headers=spoofed).json()
    assert me["email"] == "alice@example.com" and me["roles"] == ["user"]
    assert alice.get("/api/v1/reports/usage", headers=spoofed).status_code == 403
    assert api_server.client().get("/api/v1/me", headers=spoofed).status_code == 401
    # An owner (or department) in the body is not a field of the request at all.
    response = alice.post("/api/v1/sandboxes", json={"template": "gcp-individual", "owner": "bob@example.com"})
    assert response.status_code == 422 and response.json()["exit_code"] == 2
    # Members outside the allowed domains are refused before anything is written.
    response = alice.post("/api/v1/sandboxes", json={"template": "gcp-group", "members": ["x@gmail.com"]})
    assert response.status_code == 400 and "outside the allowed domains" in response.json()["detail"]
    assert alice.get("/api/v1/sandboxes").json()["items"] == []


def test_one_person_has_one_quota_whatever_their_address(api_server):
    """The quota counts the issuer's subject: alice+1@, alice+2@ are still alice."""
    provider = api_server.provider
    limit = api_server.settings.quotas.max_live_per_user
    statuses = []
    for n in range(limit + 1):
        token = provider.id_token("alice", f"alice+{n}@example.com", groups=["eng"])
        statuses.append(api_server.client(token=token).post(
            "/api/v1/sandboxes", json={"template": "gcp-individual"}).status_code)
    assert statuses == [201] * limit + [429]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_parallel_requests_stop_exactly_at_the_quota(api_server):
    from concurrent.futures import ThreadPoolExecutor

    token = api_server.token("bob")
    limit = api_server.settings.quotas.max_live_per_user

    def request(_):
        with api_server.client(token=token) as client:
            return client.post("/api/v1/sandboxes", json={"template": "gcp-individual"}).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(pool.map(request, range(20)))
    assert statuses == [201] * limit + [429] * (20 - limit)
    assert len(api_server.client("bob").get("/api/v1/sandboxes").json()["items"]) == limit
