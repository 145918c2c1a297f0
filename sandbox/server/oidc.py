"""Verifying the issuer's tokens: discovery and JWKS cached, refreshed on an unknown key.

Only asymmetric algorithms the issuer advertises are accepted, so neither `none` nor an
HS256 token "signed" with the issuer's public key can pass. Some issuers omit `kid`
while they have one key: then their one signing key is used.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import jwt

from sandbox.config import AuthSettings

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                        "ES256", "ES384", "ES512", "EdDSA"})
# An unknown kid makes us re-read the JWKS, but at most this often: a flood of tokens
# with made-up kids must not become a flood of requests to the issuer.
REFRESH_INTERVAL = 30.0
FETCH_TIMEOUT = 10.0
# Tokens already verified, with their claims: a CLI or browser sends the same token on
# every call until it expires, and checking its signature again cost /me a tenth of its
# time (bench/server_bench.py). Keyed by the whole token, so any change to it misses.
VERIFIED_CACHE_SIZE = 4096


class TokenRejected(Exception):
    """The presented token is not one we accept; the message says why (never the token)."""


class WouldBlock(Exception):
    """verify(blocking=False) would have to read the issuer's documents first."""


class OidcVerifier:
    def __init__(self, auth: AuthSettings):
        self.auth = auth
        self.issuer = auth.issuer.rstrip("/")
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: list[dict[str, Any]] = []
        self._keys_read_at = 0.0
        self._prepared: dict[tuple[str, str], jwt.PyJWK] = {}
        self._verified: dict[str, dict[str, Any]] = {}

    def metadata(self, blocking: bool = True) -> dict[str, Any]:
        if self._metadata is None and not blocking:
            raise WouldBlock
        if self._metadata is None:
            with self._lock:
                if self._metadata is None:
                    self._metadata = fetch_json(f"{self.issuer}/.well-known/openid-configuration")
        return self._metadata

    def algorithms(self, blocking: bool = True) -> list[str]:
        advertised = self.metadata(blocking).get("id_token_signing_alg_values_supported") or ["RS256"]
        return sorted(ASYMMETRIC.intersection(advertised))

    def verify(self, token: str, blocking: bool = True) -> dict[str, Any]:
        """The token's claims if its signature, issuer, audience and times check out.
        With `blocking` false, raise WouldBlock instead of reading from the issuer (the
        server's event loop must not wait on the network). The claims are shared: read them only."""
        claims = self._verified.get(token)
        if claims is not None and self._in_time(claims):
            return claims
        claims = self._verify(token, blocking)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified), ""), None)  # the oldest
        self._verified[token] = claims
        return claims

    def _in_time(self, claims: dict[str, Any]) -> bool:
        """Still within exp and nbf, with the same leeway jwt.decode allows."""
        now, leeway = time.time(), self.auth.leeway_seconds
        return claims["exp"] > now - leeway and claims.get("nbf", 0) <= now + leeway

    def _verify(self, token: str, blocking: bool) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("not a JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms(blocking):
            raise TokenRejected(f"algorithm {alg!r} is not one the issuer signs with")
        key = self._key(header.get("kid"), alg, blocking)
        try:
            return jwt.decode(token, key, algorithms=[alg], audience=self.auth.audiences() or None,
                              issuer=self.issuer, leeway=self.auth.leeway_seconds,
                              options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the token has expired; sign in again") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("the token was issued for another client") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("the token comes from another issuer") from None
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"the token does not verify ({type(exc).__name__})") from None

    def _key(self, kid: str | None, alg: str, blocking: bool) -> jwt.PyJWK:
        if not self._keys_read_at and not blocking:
            raise WouldBlock
        data = self._find(kid, alg)
        if data is None and self._may_refresh():
            if not blocking:
                raise WouldBlock
            self._read_keys()
            data = self._find(kid, alg)
        if data is None:
            raise TokenRejected("the token is signed with a key the issuer does not publish")
        cache_key = (json.dumps(data, sort_keys=True), alg)
        if cache_key not in self._prepared:
            try:
                self._prepared[cache_key] = jwt.PyJWK(data, algorithm=alg)
            except jwt.PyJWTError:
                raise TokenRejected(f"the issuer's key does not fit algorithm {alg}") from None
        return self._prepared[cache_key]

    def _find(self, kid: str | None, alg: str) -> dict[str, Any] | None:
        if not self._keys_read_at:
            self._read_keys()
        signing = [k for k in self._keys if k.get("use", "sig") == "sig" and k.get("alg", alg) == alg]
        if kid is not None:
            return next((k for k in signing if k.get("kid") == kid), None)
        return signing[0] if len(signing) == 1 else None

    def _may_refresh(self) -> bool:
        return time.monotonic() - self._keys_read_at >= REFRESH_INTERVAL

    def _read_keys(self) -> None:
        with self._lock:
            jwks = fetch_json(self.metadata()["jwks_uri"])
            self._keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
            self._keys_read_at = time.monotonic()


class IssuerUnavailable(Exception):
    pass


def fetch_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - the configured issuer
            return json.load(response)
    except (OSError, ValueError) as exc:
        raise IssuerUnavailable(f"cannot read {url}: {exc}") from None
