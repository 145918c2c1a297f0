"""OpenID Connect sign-in for the CLI: authorization code + PKCE on a loopback redirect,
as `gcloud auth login` does, or with --no-browser by pasting the redirected URL back.
Standard library only; tokens are never printed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Callable

from sandbox.errors import SandboxError, UsageError

TIMEOUT = 15.0


class NotSignedInError(SandboxError):
    exit_code = 3


@dataclass
class OidcClientConfig:
    issuer: str
    client_id: str
    client_secret: str = ""
    scopes: str = "openid email profile"


class TokenCache:
    """One JSON file per server under the user's config directory, readable by them only."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def for_server(cls, server_url: str, base_dir: Path | None = None) -> "TokenCache":
        base = base_dir or Path(os.environ.get("SANDBOX_CONFIG_HOME") or
                                Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "sandbox-cloud")
        name = hashlib.sha256(server_url.rstrip("/").encode()).hexdigest()[:16]
        return cls(base / "logins" / f"{name}.json")

    def load(self) -> dict[str, Any] | None:
        try:
            tokens = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return tokens if isinstance(tokens, dict) else None

    def save(self, tokens: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        # A fresh O_EXCL temp file: O_CREAT alone would keep the mode of a leftover file, and
        # two CLIs saving at once must not write into the same one.
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(tokens, handle)
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def clear(self) -> bool:
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False


def discover(issuer: str) -> dict[str, Any]:
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    metadata = _json_request(url)
    if not all(isinstance(metadata.get(key), str) for key in ("authorization_endpoint", "token_endpoint")):
        raise SandboxError(f"cannot reach the sign-in provider at {url}: no authorization or token endpoint in its metadata")
    return metadata


def login(config: OidcClientConfig, *, open_browser: bool = True, read_line: Callable[[], str] = input,
          echo: Callable[[str], None] = print, timeout: float = 300) -> dict[str, Any]:
    """The tokens to cache, after the user signed in at the issuer."""
    metadata = discover(config.issuer)
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(16)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    receiver = _Receiver() if open_browser else None
    port = receiver.port if receiver else _free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    query = {"response_type": "code", "client_id": config.client_id, "redirect_uri": redirect_uri,
             "scope": config.scopes, "state": state, "nonce": nonce,
             "code_challenge": challenge, "code_challenge_method": "S256"}
    url = f"{metadata['authorization_endpoint']}?{urllib.parse.urlencode(query)}"
    if receiver:
        echo(f"opening your browser to sign in; if it does not open, visit:\n  {url}")
        try:
            webbrowser.open(url)
            params = receiver.wait(timeout)
        finally:
            receiver.close()
        bare_code = False
    else:
        echo(f"visit this URL, sign in, then paste the address your browser was sent to:\n  {url}")
        pasted = (read_line() or "").strip()
        params = _parse_pasted(pasted)
        bare_code = params == {"code": pasted}
    if params.get("error"):
        raise NotSignedInError(_one_line(f"the sign-in provider refused: {params['error']} {params.get('error_description', '')}"))
    if not params.get("code"):
        raise UsageError("no authorization code in the sign-in answer; paste the whole address your browser was sent to")
    # A bare pasted code carries no state to check; any redirect (loopback or pasted URL) must carry ours.
    if not bare_code and not secrets.compare_digest(params.get("state", "").encode(), state.encode()):
        raise NotSignedInError("the sign-in answer does not belong to this login (state); run: sandbox login")
    tokens = _token_request(metadata["token_endpoint"], config, {
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": redirect_uri,
        "code_verifier": verifier, "client_id": config.client_id})
    cached = _cacheable(tokens, config, metadata["token_endpoint"])
    # Not a signature check (the server does that): it catches an ID token from another login.
    if _claims(cached["id_token"]).get("nonce", nonce) != nonce:
        raise NotSignedInError("the ID token does not belong to this login (nonce); run: sandbox login")
    return cached


def refresh(tokens: dict[str, Any], config: OidcClientConfig) -> dict[str, Any] | None:
    """New tokens, or None when the issuer gives no new ID token on refresh."""
    if not tokens.get("refresh_token") or not tokens.get("token_endpoint"):
        return None
    try:
        fresh = _token_request(tokens["token_endpoint"], config, {
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": config.client_id})
    except NotSignedInError:
        return None
    if "id_token" not in fresh:
        return None
    fresh.setdefault("refresh_token", tokens["refresh_token"])
    return _cacheable(fresh, config, tokens["token_endpoint"])


def current_id_token(cache: TokenCache, config: OidcClientConfig, *, leeway: int = 60) -> str:
    tokens = cache.load()
    if not tokens or not tokens.get("id_token"):
        raise NotSignedInError("not signed in; run: sandbox login (or set SANDBOX_TOKEN to an API token)")
    if tokens.get("expires_at", 0) - leeway > time.time():
        return tokens["id_token"]
    fresh = refresh(tokens, config)
    if fresh is None:
        raise NotSignedInError("your session expired; run: sandbox login")
    cache.save(fresh)
    return fresh["id_token"]


def _cacheable(tokens: dict[str, Any], config: OidcClientConfig, token_endpoint: str) -> dict[str, Any]:
    if "id_token" not in tokens:
        raise NotSignedInError("the sign-in provider returned no ID token; is 'openid' among its scopes?")
    return {"id_token": tokens["id_token"], "refresh_token": tokens.get("refresh_token"),
            "expires_at": _expiry(tokens), "issuer": config.issuer, "client_id": config.client_id,
            "client_secret": config.client_secret, "token_endpoint": token_endpoint}


def _claims(id_token: str) -> dict[str, Any]:
    """The token's payload, read without verifying: the server verifies; we only plan a refresh."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _expiry(tokens: dict[str, Any]) -> float:
    """When the ID token (what we send) expires: its exp, else the response's expires_in, else now."""
    exp = _claims(tokens["id_token"]).get("exp")
    if isinstance(exp, (int, float)):
        return float(exp)
    expires_in = tokens.get("expires_in")
    return time.time() + (float(expires_in) if isinstance(expires_in, (int, float)) else 0.0)


def _token_request(endpoint: str, config: OidcClientConfig, form: dict[str, str]) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if config.client_secret:
        pair = f"{urllib.parse.quote(config.client_id)}:{urllib.parse.quote(config.client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(endpoint, data=urllib.parse.urlencode(form).encode(), headers=headers)
    return _json_request(request)


def _json_request(request) -> dict[str, Any]:
    where = request if isinstance(request, str) else request.full_url
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - the configured issuer
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            body = json.load(exc)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        reason = body.get("error_description") or body.get("error") or exc.reason
        raise NotSignedInError(_one_line(f"the sign-in provider refused ({exc.code}): {reason}")) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SandboxError(_one_line(f"cannot reach the sign-in provider at {where}: {getattr(exc, 'reason', exc)}")) from None
    if not isinstance(answer, dict):
        raise SandboxError(f"cannot reach the sign-in provider at {where}: its answer is not a JSON object")
    return answer


def _one_line(text: str) -> str:
    """Errors are one line; providers' descriptions may not be."""
    return " ".join(str(text).split())


def _parse_pasted(text: str) -> dict[str, str]:
    text = (text or "").strip()
    if "?" not in text and "=" not in text:
        return {"code": text} if text else {}
    query = urllib.parse.urlparse(text).query if "://" in text else text.split("?", 1)[-1]
    return {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Receiver:
    """A one-shot loopback HTTP server that catches the issuer's redirect."""

    def __init__(self) -> None:
        received: dict[str, str] = {}
        done = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                url = urllib.parse.urlparse(self.path)
                if url.path != "/callback":
                    self.send_error(404)
                    return
                received.update({k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()})
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(b"<!doctype html><title>Sandbox Cloud</title>"
                                 b"<p>Signed in. You can close this tab and return to the terminal.</p>")
                done.set()

            def log_message(self, *_args):  # the terminal is the user's, not the server's log
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._received, self._done = received, done
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> dict[str, str]:
        if not self._done.wait(timeout):
            raise NotSignedInError(f"no sign-in within {int(timeout)} s; run: sandbox login (or --no-browser)")
        return dict(self._received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
