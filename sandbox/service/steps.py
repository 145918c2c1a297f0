"""The lease that keeps one worker per sandbox, and the database side of a provider's StepStore."""

from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, cast

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from sandbox.errors import ConcurrentUpdateError, ProvisionCancelledError
from sandbox.models import Credential, Sandbox
from sandbox.service.app import App

log = logging.getLogger("sandbox.steps")


@dataclass(frozen=True)
class Lease:
    """One claim of one sandbox, handed to the work it is for and released once.

    `owner` is what the row's lease_owner holds while the claim lasts: "<worker id>:<random
    token>". Writes are fenced by the claim, not by the worker, so a thread whose lease ran
    out writes nothing over the claim that took its place, even one of its own process.
    """

    sandbox_id: str
    owner: str


def new_owner(app: App) -> str:
    # lease_owner holds 80 characters: a host name of 64, a pid and this token fit.
    return f"{app.worker_id}:{secrets.token_hex(4)}"


def no_live_lease(now: datetime) -> ColumnElement:
    """Nobody holds the sandbox, or the holder's lease ran out (it died, say)."""
    return or_(col(Sandbox.lease_owner).is_(None), col(Sandbox.lease_until) < now)


def claim(app: App, sandbox_id: str) -> Lease | None:
    """The sandbox's lease, or None while anyone (this worker too) holds a live one."""
    now = app.now()
    owner = new_owner(app)
    with app.session() as session:
        taken = cast(CursorResult, session.execute(
            update(Sandbox)
            .where(col(Sandbox.id) == sandbox_id, no_live_lease(now))
            .values(lease_owner=owner, lease_until=now + app.settings.daemon.lease)
            .execution_options(synchronize_session=False)
        )).rowcount
    return Lease(sandbox_id, owner) if taken == 1 else None


def release(app: App, *leases: Lease) -> None:
    """Hand leases back; one that ran out and was taken over meanwhile stays its successor's."""
    with app.session() as session:
        for lease in leases:
            session.execute(
                update(Sandbox)
                .where(col(Sandbox.id) == lease.sandbox_id, col(Sandbox.lease_owner) == lease.owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )


@contextmanager
def leased(app: App, sandbox_id: str, lease: Lease | None = None) -> Iterator[Lease]:
    """The sandbox's lease for the block: `lease` when the caller (a sweep) holds it and
    releases it itself, else one claimed here and released after the block."""
    if lease is not None:
        yield lease
        return
    lease = claim(app, sandbox_id)
    if lease is None:
        raise ConcurrentUpdateError(
            f"sandbox {sandbox_id} is being worked on by another process; try again in a few minutes"
        )
    try:
        yield lease
    finally:
        release(app, lease)


class DbStepStore:
    """Each put commits before returning, so the next step starts from durable ground.

    The worker holding the sandbox's lease is the only writer of its progress and
    credentials, so both are read once, here, and each put is one transaction that renews
    the lease, fenced by it: a worker that lost the lease cannot overwrite its successor's
    steps. A store opened without a lease (to read credentials) cannot write.
    """

    def __init__(self, app: App, sandbox_id: str, on_progress: Callable[[str], None] | None = None,
                 *, lease: Lease | None = None, session: Session | None = None, while_state: str | None = None):
        """`while_state`: the work goes on only while the sandbox is in this state. A
        provision passes "provisioning": a cancel (which needs no lease) moves the row on, and
        the worker stops at its next step or progress message, the steps so far saved, so the
        teardown knows what was made."""
        self.app = app
        self.sandbox_id = sandbox_id
        self.on_progress = on_progress
        self.lease = lease
        self.while_state = while_state
        if session is None:
            with app.session() as session:
                self._load(session)
        else:
            self._load(session)

    def _load(self, session: Session) -> None:
        # In the caller's session the row is usually loaded already: no second SELECT.
        self._progress = dict(session.get_one(Sandbox, self.sandbox_id).progress)
        self._ciphertexts = {(email, name): ciphertext for email, name, ciphertext in session.execute(
            select(Credential.member_email, Credential.name, Credential.ciphertext)
            .where(Credential.sandbox_id == self.sandbox_id))}

    def get(self, key: str) -> Any | None:
        return self._progress.get(key)

    def put(self, key: str, value: Any) -> None:
        progress = {**self._progress, key: value}
        with self.app.session() as session:
            self._renew_lease(session, f"step {key}", progress=progress)
        self._progress = progress
        self._check_state()
        log.info("step_done sandbox=%s step=%s", self.sandbox_id, key)

    def get_secret(self, member_email: str, name: str) -> str | None:
        ciphertext = self._ciphertexts.get((member_email, name))
        return None if ciphertext is None else self.app.vault.decrypt(ciphertext)

    def put_secret(self, member_email: str, name: str, value: str) -> None:
        ciphertext = self.app.vault.encrypt(value)
        with self.app.session() as session:
            self._renew_lease(session, f"secret {name}")
            if (member_email, name) in self._ciphertexts:
                session.execute(
                    update(Credential)
                    .where(col(Credential.sandbox_id) == self.sandbox_id, col(Credential.member_email) == member_email,
                           col(Credential.name) == name)
                    .values(ciphertext=ciphertext)
                    .execution_options(synchronize_session=False))
            else:
                session.add(Credential(sandbox_id=self.sandbox_id, member_email=member_email, name=name,
                                       ciphertext=ciphertext, created_at=self.app.now()))
        self._ciphertexts[(member_email, name)] = ciphertext
        log.info("secret_stored sandbox=%s member=%s name=%s", self.sandbox_id, member_email, name)

    def check_secrets(self) -> None:
        """Decrypt every stored secret once: a wrong or missing key fails here, before a
        change that would need them (an unfreeze grants the stored passwords again)."""
        for ciphertext in self._ciphertexts.values():
            self.app.vault.decrypt(ciphertext)

    def progress(self, message: str) -> None:
        self._check_state()  # providers say what they do next before doing it
        log.info("progress sandbox=%s message=%r", self.sandbox_id, message)
        if self.on_progress:
            self.on_progress(message)

    def _check_state(self) -> None:
        if self.while_state is None:
            return
        with self.app.session() as session:
            state = session.execute(select(col(Sandbox.state)).where(col(Sandbox.id) == self.sandbox_id)).scalar_one()
        if state != self.while_state:
            raise ProvisionCancelledError(f"sandbox {self.sandbox_id} became {state} while it was being worked on")

    def _renew_lease(self, session: Session, what: str, **values: Any) -> None:
        """Renew the lease (writing `values` with it) in the put's transaction, or refuse the put."""
        renewed = self.lease is not None and cast(CursorResult, session.execute(
            update(Sandbox)
            .where(col(Sandbox.id) == self.sandbox_id, col(Sandbox.lease_owner) == self.lease.owner)
            .values(lease_until=self.app.now() + self.app.settings.daemon.lease, **values)
            .execution_options(synchronize_session=False))).rowcount == 1
        if not renewed:
            raise ConcurrentUpdateError(f"sandbox {self.sandbox_id} was taken over by another worker "
                                        f"(this one's lease ran out, or it held none) before {what} was saved")

