"""A real local OpenID provider (oidc-provider-mock) for the server tests: it signs RS256
ID tokens over the authorization-code flow. Tokens are obtained the way a browser would,
never made up, except by the forging helpers for the negative tests."""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
import time
import urllib.parse
from pathlib import Path

import httpx
import jwt
import pytest

CLIENT_ID = "sandbox"
CLIENT_SECRET = "public-installed-app"
REDIRECT = "http://127.0.0.1:9/callback"


class OidcProvider:
    def __init__(self, issuer: str):
        self.issuer = issuer
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.http = httpx.Client(timeout=10)

    def set_user(self, sub: str, email: str, *, groups=(), email_verified=True, **claims) -> None:
        body = {"email": email, "email_verified": email_verified, "groups": list(groups), **claims}
        self.http.put(f"{self.issuer}/users/{sub}", json=body).raise_for_status()

    def id_token(self, sub: str, email: str | None = None, *, groups=(), email_verified=True,
                 client_id: str = CLIENT_ID, **claims) -> str:
        if email is not None:
            self.set_user(sub, email, groups=groups, email_verified=email_verified, **claims)
        verifier = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                 "scope": "openid email profile", "state": "s", "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        answer = self.http.post(f"{self.issuer}/oauth2/authorize?{urllib.parse.urlencode(query)}", data={"sub": sub})
        code = urllib.parse.parse_qs(urllib.parse.urlparse(answer.headers["location"]).query)["code"][0]
        tokens = self.http.post(f"{self.issuer}/oauth2/token", auth=(client_id, CLIENT_SECRET), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}).json()
        return tokens["id_token"]

    def browser_script(self, folder: Path, sub: str) -> str:
        """A $BROWSER that signs `sub` in: POSTs the choice, then follows the redirect to
        the CLI's loopback callback, as a person clicking in the browser would."""
        script = folder / f"browser-{sub}"
        script.write_text(
            f"#!{sys.executable}\nimport sys, httpx\n"
            f"answer = httpx.post(sys.argv[1], data={{'sub': {sub!r}}})\n"
            "httpx.get(answer.headers['location'])\n")
        script.chmod(0o755)
        return str(script)


@pytest.fixture(scope="session")
def oidc_provider():
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=0) as server:
        yield OidcProvider(f"http://localhost:{server.server_port}")


def claims_for(issuer: str, email: str = "alice@example.com", **overrides) -> dict:
    now = int(time.time())
    return {"iss": issuer, "sub": "forger", "aud": [CLIENT_ID], "iat": now, "exp": now + 600,
            "email": email, "email_verified": True, **overrides}


def sign_with_new_key(claims: dict, *, alg: str = "RS256", kid: str | None = None) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def unsigned_token(claims: dict) -> str:
    def part(data: dict) -> str:
        import json

        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
