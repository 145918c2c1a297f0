"""A small JSON-over-HTTP client on urllib: the remote CLI starts as fast as `--help`."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

from sandbox.errors import SandboxError

TIMEOUT = 60.0


class RemoteError(SandboxError):
    """What the server refused, with the exit code the local CLI would have used."""

    def __init__(self, message: str, exit_code: int = 1, status: int = 0):
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status


class ServerUnreachableError(SandboxError):
    """[server] url / SANDBOX_SERVER names a server that does not answer: configuration."""

    exit_code = 2


class ApiClient:
    def __init__(self, base_url: str, bearer: Callable[[], str] | None = None):
        self.base_url = base_url.rstrip("/")
        self._bearer = bearer

    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.call("POST", path, body=body or {})

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    def call(self, method: str, path: str, *, query: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, authenticated: bool = True, raw: bool = False) -> Any:
        """The decoded JSON answer (`raw`: its text as sent); an error answer raises."""
        url = self.base_url + path
        params = {k: ("true" if v is True else v) for k, v in (query or {}).items() if v not in (None, False)}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json, application/problem+json, text/*"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if authenticated and self._bearer is not None:
            headers["Authorization"] = f"Bearer {self._bearer()}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - the configured server
                content = response.read()
                return content.decode("utf-8") if raw else _decode(response.headers.get("Content-Type", ""), content)
        except urllib.error.HTTPError as exc:
            raise _problem(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerUnreachableError(
                f"cannot reach the server at {self.base_url}: {reason}; check [server] url or SANDBOX_SERVER"
            ) from None


def _decode(content_type: str, raw: bytes) -> Any:
    if "json" in content_type:
        return json.loads(raw or b"null")
    return raw.decode("utf-8")


def _problem(exc: urllib.error.HTTPError) -> RemoteError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    exit_code = body.get("exit_code") if isinstance(body, dict) else None
    if not isinstance(exit_code, int):
        # A server too old to say: the statuses mean what sandbox.errors' exit codes mean.
        exit_code = 3 if exc.code in (401, 403) else 2 if exc.code in (400, 404, 422, 503) else 1
    return RemoteError(detail or f"the server answered {exc.code} {exc.reason}", exit_code, exc.code)
