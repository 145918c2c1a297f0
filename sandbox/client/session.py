"""Signing the CLI in to one server: the issuer and client come from the server's public
/api/v1/auth/config, the tokens are cached per server (mode 0600) and refreshed silently."""

from __future__ import annotations

from typing import Any, Callable

from sandbox.client.http import ApiClient
from sandbox.client.login import OidcClientConfig, TokenCache, current_id_token, login
from sandbox.errors import UsageError


def _require_server(server_url: str) -> None:
    if not server_url:
        raise UsageError("no server to sign in to: set [server] url in your config or SANDBOX_SERVER")


def login_to_server(server_url: str, *, open_browser: bool = True,
                    echo: Callable[[str], None] = print, read_line: Callable[[], str] = input) -> dict[str, Any]:
    """Sign in through the browser; returns who the server says we are."""
    _require_server(server_url)
    api = ApiClient(server_url)
    config = _client_config(api.call("GET", "/api/v1/auth/config", authenticated=False))
    tokens = login(config, open_browser=open_browser, echo=echo, read_line=read_line)
    me = ApiClient(server_url, lambda: tokens["id_token"]).get("/api/v1/me")
    TokenCache.for_server(server_url).save(tokens)
    return me


def current_token(server_url: str) -> str:
    cache = TokenCache.for_server(server_url)
    cached = cache.load() or {}
    config = OidcClientConfig(issuer=cached.get("issuer", ""), client_id=cached.get("client_id", ""),
                              client_secret=cached.get("client_secret", ""))
    return current_id_token(cache, config)


def forget_login(server_url: str) -> bool:
    _require_server(server_url)
    return TokenCache.for_server(server_url).clear()


def _client_config(data: dict[str, Any]) -> OidcClientConfig:
    return OidcClientConfig(issuer=data["issuer"], client_id=data["client_id"],
                            client_secret=data.get("client_secret", ""), scopes=data.get("scopes") or "openid email profile")
