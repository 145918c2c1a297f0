"""Local mode: the service layer in this process, for operators on the server's host
(it needs the database, the secrets key and the cloud credentials)."""

from __future__ import annotations

import builtins
from typing import Any, Callable


class LocalBackend:
    mode = "local"

    def __init__(self, context):
        self._context = context  # the CLI's lazily built settings, app and identity

    @property
    def _app(self):
        return self._context.app

    @property
    def _me(self):
        return self._context.identity

    def whoami(self) -> dict[str, Any]:
        from sandbox.service import describe_caller

        return {**describe_caller(self._app, self._me), "via": "local"}

    def templates(self) -> list[dict[str, Any]]:
        from sandbox.service.catalog import list_template_rows

        return list_template_rows(self._context.settings)

    def template(self, name: str) -> dict[str, Any]:
        from sandbox.service.catalog import show_template

        return show_template(self._context.settings, name)

    def request(self, template: str, *, ttl: str | None, members: list[str], name: str | None, wait: bool,
                progress: Callable[[str], None]) -> dict[str, Any]:
        from sandbox.service import request_sandbox
        from sandbox.starter import require_local_setup

        require_local_setup(self._context.settings, self._me)  # before the database: what the defaults lack
        return request_sandbox(self._app, self._me, template, ttl=ttl, members=members, name=name, wait=wait,
                               progress=progress)

    def list(self, *, everything: bool, state: str | None) -> list[dict[str, Any]]:
        from sandbox.service import list_sandboxes

        return list_sandboxes(self._app, self._me, everything=everything, state=state)

    def show(self, ref: str) -> dict[str, Any]:
        from sandbox.service import show_sandbox

        return show_sandbox(self._app, self._me, ref)

    def events(self, ref: str) -> builtins.list[dict[str, Any]]:
        from sandbox.service import list_events

        return list_events(self._app, self._me, ref)

    def credentials(self, ref: str, member: str | None) -> dict[str, Any]:
        from sandbox.service import get_credentials

        return get_credentials(self._app, self._me, ref, member)

    def extend(self, ref: str, by: str) -> dict[str, Any]:
        from sandbox.service import extend_sandbox

        return extend_sandbox(self._app, self._me, ref, by)

    def destroy(self, ref: str) -> dict[str, Any]:
        from sandbox.service import destroy_sandbox

        return destroy_sandbox(self._app, self._me, ref)

    def approve(self, ref: str, reason: str = "") -> dict[str, Any]:
        from sandbox.service import approve_sandbox

        return approve_sandbox(self._app, self._me, ref, reason)

    def deny(self, ref: str, reason: str) -> dict[str, Any]:
        from sandbox.service import deny_sandbox

        return deny_sandbox(self._app, self._me, ref, reason)

    def set_budget(self, ref: str, to: str) -> dict[str, Any]:
        from sandbox.service import set_budget

        return set_budget(self._app, self._me, ref, to)

    def retry(self, ref: str, *, wait: bool, progress: Callable[[str], None]) -> dict[str, Any]:
        from sandbox.service import retry_sandbox

        return retry_sandbox(self._app, self._me, ref, wait=wait, progress=progress)

    def report(self, kind: str, *, fmt: str, out: str | None, **options: Any) -> tuple[str | None, str | None]:
        """(text to print, None) or (None, path written)."""
        from sandbox.reports import run_report

        result = run_report(self._app, self._me, kind, fmt=fmt, out=out, **options)
        return (result.text, None) if result.path is None else (None, str(result.path))

    def create_token(self, name: str, *, expires_in: str, scope: str) -> dict[str, Any]:
        from sandbox.service import create_token

        return create_token(self._app, self._me, name, expires_in=expires_in, scope=scope)

    def tokens(self, owner: str | None) -> builtins.list[dict[str, Any]]:
        from sandbox.service import list_tokens

        return list_tokens(self._app, self._me, owner=owner)

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        from sandbox.service import revoke_token

        return revoke_token(self._app, self._me, token_id)
