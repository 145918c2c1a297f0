"""Remote mode: every engineer command through the server's API, with the output and the
exit codes of local mode. Who the caller is comes from their login or API token only."""

from __future__ import annotations

import builtins
import time
from typing import Any, Callable
from urllib.parse import quote

from sandbox.client.http import ApiClient, RemoteError
from sandbox.errors import UsageError

POLL_SECONDS = 1.0
PAGE = 500


class RemoteBackend:
    mode = "remote"

    def __init__(self, server_url: str, bearer: Callable[[], str]):
        self.server_url = server_url
        self.api = ApiClient(server_url, bearer)

    def whoami(self) -> dict[str, Any]:
        return self.api.get("/api/v1/me")

    def templates(self) -> list[dict[str, Any]]:
        return self.api.get("/api/v1/templates")

    def template(self, name: str) -> dict[str, Any]:
        return self.api.get(f"/api/v1/templates/{_seg(name)}")

    def request(self, template: str, *, ttl: str | None, members: list[str], name: str | None, wait: bool,
                progress: Callable[[str], None]) -> dict[str, Any]:
        view = self.api.post("/api/v1/sandboxes", {"template": template, "ttl": ttl, "members": members,
                                                   "name": name})
        if not wait or view["approval_required"]:
            return view
        return self._wait_active(view["id"], progress)

    def _wait_active(self, sandbox_id: str, progress: Callable[[str], None]) -> dict[str, Any]:
        """The server provisions; we watch its steps until the sandbox is active or failed."""
        seen: set[str] = set()
        while True:
            view = self.show(sandbox_id)
            for step in view.get("steps_done") or []:
                if step not in seen:
                    seen.add(step)
                    progress(step.replace("_", " "))
            if view["state"] == "active":
                return {k: v for k, v in view.items() if k not in ("members", "tags", "steps_done")}
            # A new request and a retried one start at 0 attempts: any is a failed one, whose
            # next try is the daemon's, so stop waiting and say so, as local mode does.
            failed = view["state"] == "failed" or (view["state"] == "provisioning" and view.get("attempts"))
            if failed and view.get("last_error"):
                raise RemoteError(f"provisioning sandbox {sandbox_id} failed: {view['last_error']}"
                                  + (f"; {view['next_attempt']}" if view.get("next_attempt") else ""), 1)
            if view["state"] not in ("requested", "provisioning"):
                raise RemoteError(f"sandbox {sandbox_id} is {view['state']}: {view.get('last_error') or 'see: sandbox events ' + sandbox_id}", 1)
            time.sleep(POLL_SECONDS)

    def list(self, *, everything: bool, state: str | None) -> list[dict[str, Any]]:
        rows, cursor = [], None
        while True:
            page = self.api.get("/api/v1/sandboxes", scope="visible" if everything else "mine",
                                include_ended=everything, state=state, limit=PAGE, cursor=cursor)
            rows.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return rows

    def show(self, ref: str) -> dict[str, Any]:
        return self.api.get(f"/api/v1/sandboxes/{_seg(ref)}")

    def events(self, ref: str) -> builtins.list[dict[str, Any]]:
        return self.api.get(f"/api/v1/sandboxes/{_seg(ref)}/events")

    def credentials(self, ref: str, member: str | None) -> dict[str, Any]:
        return self.api.get(f"/api/v1/sandboxes/{_seg(ref)}/credentials", member=member)

    def extend(self, ref: str, by: str) -> dict[str, Any]:
        return self.api.post(f"/api/v1/sandboxes/{_seg(ref)}/extend", {"by": by})

    def destroy(self, ref: str) -> dict[str, Any]:
        return self.api.delete(f"/api/v1/sandboxes/{_seg(ref)}")

    def approve(self, ref: str, reason: str = "") -> dict[str, Any]:
        return self.api.post(f"/api/v1/sandboxes/{_seg(ref)}/approve", {"reason": reason})

    def deny(self, ref: str, reason: str) -> dict[str, Any]:
        return self.api.post(f"/api/v1/sandboxes/{_seg(ref)}/deny", {"reason": reason})

    def set_budget(self, ref: str, to: str) -> dict[str, Any]:
        return self.api.post(f"/api/v1/sandboxes/{_seg(ref)}/budget", {"to_usd": to})

    def retry(self, ref: str, *, wait: bool, progress: Callable[[str], None]) -> dict[str, Any]:
        view = self.api.post(f"/api/v1/sandboxes/{_seg(ref)}/retry")
        return self._wait_active(view["id"], progress) if wait else view

    def report(self, kind: str, *, fmt: str, out: str | None, **options: Any) -> tuple[str | None, str | None]:
        from sandbox.files import check_out, write_atomic

        fmt = (fmt or "table").strip().lower()
        target = check_out(out, fmt == "html")  # before asking the server, as local mode does
        text = self.api.call("GET", f"/api/v1/reports/{_seg(kind)}", query={"format": fmt, **options}, raw=True)
        return (text, None) if target is None else (None, str(write_atomic(target, text)))

    def create_token(self, name: str, *, expires_in: str, scope: str) -> dict[str, Any]:
        return self.api.post("/api/v1/tokens", {"name": name, "expires_in": expires_in, "scope": scope})

    def tokens(self, owner: str | None) -> builtins.list[dict[str, Any]]:
        return self.api.get("/api/v1/tokens", owner=owner)

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return self.api.delete(f"/api/v1/tokens/{_seg(token_id)}")


def _seg(value: str) -> str:
    """One path segment, whatever the user typed (a '/' or '..' stays inside it)."""
    if not value or not value.strip():
        raise UsageError("give a sandbox id (see: sandbox list)")
    return quote(value.strip(), safe="")
