"""The database side of a provider's StepStore, and the lease that keeps one worker per sandbox."""

from __future__ import annotations

import logging
import os
import signal
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Callable, Iterator

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from sandbox.durations import parse_duration
from sandbox.errors import ConcurrentUpdateError
from sandbox.models import Credential, Sandbox
from sandbox.service.app import App

log = logging.getLogger("sandbox.steps")

# Fault injection for the crash tests: after committing this step key the process kills
# itself with SIGKILL, exactly as an OOM kill or a node loss would.
CRASH_AFTER_ENV = "SANDBOX_FAULT_CRASH_AFTER"


class DbStepStore:
    """Each put commits before returning, so the next step starts from durable ground.

    The worker holding the sandbox's lease is the only writer of its progress and
    credentials, so both are read once, here, and each put is one write: progress as a
    whole with the lease renewed, fenced by the lease so a worker that lost it cannot
    overwrite its successor's steps.
    """

    def __init__(self, app: App, sandbox_id: str, on_progress: Callable[[str], None] | None = None,
                 *, session: Session | None = None):
        self.app = app
        self.sandbox_id = sandbox_id
        self.on_progress = on_progress
        if session is None:
            with app.session() as session:
                self._load(session)
        else:
            self._load(session)

    def _load(self, session: Session) -> None:
        # In the caller's session the row is usually loaded already: no second SELECT.
        self._progress = dict(session.get(Sandbox, self.sandbox_id).progress)
        self._ciphertexts = {(email, name): ciphertext for email, name, ciphertext in session.execute(
            select(Credential.member_email, Credential.name, Credential.ciphertext)
            .where(Credential.sandbox_id == self.sandbox_id))}

    def get(self, key: str) -> Any | None:
        return self._progress.get(key)

    def put(self, key: str, value: Any) -> None:
        progress = {**self._progress, key: value}
        with self.app.session() as session:
            written = session.execute(
                update(Sandbox)
                .where(Sandbox.id == self.sandbox_id, Sandbox.lease_owner == self.app.worker_id)
                .values(progress=progress, lease_until=self.app.now() + lease_length(self.app))
                .execution_options(synchronize_session=False)).rowcount
        if written != 1:
            raise ConcurrentUpdateError(f"sandbox {self.sandbox_id} was taken over by another worker "
                                        f"(this one's lease ran out) before step {key} was saved")
        self._progress = progress
        log.info("step_done sandbox=%s step=%s", self.sandbox_id, key)
        if os.environ.get(CRASH_AFTER_ENV) == key:
            os.kill(os.getpid(), signal.SIGKILL)

    def get_secret(self, member_email: str, name: str) -> str | None:
        ciphertext = self._ciphertexts.get((member_email, name))
        return None if ciphertext is None else self.app.vault.decrypt(ciphertext)

    def put_secret(self, member_email: str, name: str, value: str) -> None:
        ciphertext = self.app.vault.encrypt(value)
        with self.app.session() as session:
            if (member_email, name) in self._ciphertexts:
                session.execute(
                    update(Credential)
                    .where(Credential.sandbox_id == self.sandbox_id, Credential.member_email == member_email,
                           Credential.name == name)
                    .values(ciphertext=ciphertext)
                    .execution_options(synchronize_session=False))
            else:
                session.add(Credential(sandbox_id=self.sandbox_id, member_email=member_email, name=name,
                                       ciphertext=ciphertext, created_at=self.app.now()))
        self._ciphertexts[(member_email, name)] = ciphertext
        log.info("secret_stored sandbox=%s member=%s name=%s", self.sandbox_id, member_email, name)
        if os.environ.get(CRASH_AFTER_ENV) == f"secret:{name}":
            os.kill(os.getpid(), signal.SIGKILL)

    def progress(self, message: str) -> None:
        log.info("progress sandbox=%s message=%r", self.sandbox_id, message)
        if self.on_progress:
            self.on_progress(message)


def lease_length(app: App) -> timedelta:
    return parse_duration(app.settings.daemon.lease, "[daemon] lease")


def claim(app: App, sandbox_id: str) -> bool:
    """Take the sandbox's lease unless another live worker holds it."""
    now = app.now()
    with app.session() as session:
        result = session.execute(
            update(Sandbox)
            .where(Sandbox.id == sandbox_id, or_(
                Sandbox.lease_owner.is_(None), Sandbox.lease_until < now,
                Sandbox.lease_owner == app.worker_id))
            .values(lease_owner=app.worker_id, lease_until=now + lease_length(app))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


def release(app: App, sandbox_id: str) -> None:
    with app.session() as session:
        session.execute(
            update(Sandbox)
            .where(and_(Sandbox.id == sandbox_id, Sandbox.lease_owner == app.worker_id))
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


@contextmanager
def leased(app: App, sandbox_id: str, *, held: bool = False) -> Iterator[None]:
    """Hold the sandbox's lease for the block; `held`: the caller (a sweep) already does."""
    if held:
        yield
        return
    if not claim(app, sandbox_id):
        raise ConcurrentUpdateError(
            f"sandbox {sandbox_id} is being worked on by another process; try again in a few minutes"
        )
    try:
        yield
    finally:
        release(app, sandbox_id)
