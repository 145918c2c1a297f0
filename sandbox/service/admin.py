"""Admin use cases: bootstrap the clouds, retry a failed sandbox, rotate the secrets key."""

from __future__ import annotations

from typing import Any, Callable

from sqlmodel import col, select

from sandbox.config import Identity
from sandbox.errors import IllegalTransitionError
from sandbox.lifecycle import FAILED, PROVISIONING, record_event, transition
from sandbox.models import Credential
from sandbox.secrets import load_new_key
from sandbox.service.access import find_sandbox, require_admin, sandbox_view
from sandbox.service.app import App

def bootstrap(app: App, identity: Identity, providers: list[str] | None = None) -> dict[str, list[str]]:
    """Create, idempotently, the OUs and folders the config names in every enabled cloud
    (or in `providers`); returns lines per cloud."""
    with app.session() as session:
        require_admin(session, identity, "bootstrap", now=app.now())
    results: dict[str, list[str]] = {}
    for name in providers or list(app.settings.clouds):
        results[name] = app.provider(name).bootstrap()
    with app.session() as session:
        record_event(session, sandbox_id=None, actor=identity.email, action="bootstrap", at=app.now(),
                     detail={"providers": list(results)})
    return results


def retry_sandbox(app: App, identity: Identity, sandbox_ref: str, *, wait: bool = False,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Put a failed sandbox back in the provisioning queue (keeping the steps already done)."""
    now = app.now()
    with app.session() as session:
        require_admin(session, identity, "retry sandboxes", now=now)
        sandbox = find_sandbox(session, sandbox_ref)
        if sandbox.state != FAILED:
            raise IllegalTransitionError(f"sandbox {sandbox.id} is {sandbox.state}; only failed ones can be retried")
        transition(session, sandbox, PROVISIONING, actor=identity.email, action="retry", at=now,
                   attempts=0, next_attempt_at=now, last_error=None)
    if wait:
        from sandbox.service.provisioning import provision_sandbox

        return provision_sandbox(app, sandbox.id, actor=identity.email, progress=progress)
    return sandbox_view(sandbox)


def rotate_key(app: App, identity: Identity, *, new_key_file: str | None = None) -> dict[str, Any]:
    """Re-encrypt every stored secret from the current key to the new one, in ONE transaction.

    The new key comes from `new_key_file`, else env SANDBOX_NEW_SECRET_KEY. A row the
    current key cannot decrypt stops the rotation with nothing changed. Returns only
    counts: no key and no secret ever leaves this function.
    """
    now = app.now()
    with app.session() as session:
        require_admin(session, identity, "rotate keys", now=now)
    rotate = app.vault.rotator(load_new_key(new_key_file))
    with app.session() as session:
        # FOR UPDATE (PostgreSQL): a concurrent writer of a row waits for the new ciphertext.
        rows = session.exec(select(Credential).order_by(col(Credential.id)).with_for_update()).all()
        for row in rows:
            row.ciphertext = rotate(row.ciphertext)
            session.add(row)
        sandboxes = len({row.sandbox_id for row in rows})
        record_event(session, sandbox_id=None, actor=identity.email, action="rotate_key", at=now,
                     detail={"rows": len(rows), "sandboxes": sandboxes})
    return {"rows": len(rows), "sandboxes": sandboxes}
