"""Delivering the notification outbox: log, SMTP e-mail, or a Slack-compatible webhook.

Lifecycle steps write Notification rows in their own transaction (sandbox.notices); this
module sends them later. A mail server that is down therefore never blocks or rolls back a
freeze: the row waits and is retried with exponential backoff ([daemon] retry_backoff,
doubling, capped at 6h) until [notify] max_attempts, then marked failed.

Claiming: a row is taken by moving its next_attempt_at a lease ([daemon] lease) into the
future, in a transaction that selects with FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite's
BEGIN IMMEDIATE admits one writer at a time). Another replica no longer sees it as due, so
no two replicas send one row; a replica that dies mid-send leaves the row to be retried
after the lease. Delivery is at-least-once only across such a crash (sent, then killed
before the delivered_at commit): mail and chat have no idempotency key to make it exact.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Callable, Protocol

from sqlalchemy import or_, select, update
from sqlmodel import col

from sandbox.config import NotifySettings
from sandbox.errors import ConfigError, SandboxError
from sandbox.models import Notification
from sandbox.service.app import App
from sandbox.sweeps.base import SweepResult

log = logging.getLogger("sandbox.notify")

BACKENDS = ("log", "smtp", "webhook")
MAX_BACKOFF = timedelta(hours=6)
TIMEOUT_SECONDS = 30.0


class DeliveryError(SandboxError):
    """A back end refused or could not be reached; the message never holds a secret."""


@dataclass(frozen=True)
class Message:
    id: int
    kind: str
    sandbox_id: str | None
    recipients: tuple[str, ...]
    subject: str
    body: str


class Notifier(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Deliver one message or raise (any exception counts as a failed attempt)."""


class LogNotifier:
    """For a start without a mail server: the message goes to the daemon's log."""

    name = "log"

    def send(self, message: Message) -> None:
        log.info("notice id=%s kind=%s sandbox=%s recipients=%s subject=%r", message.id, message.kind,
                 message.sandbox_id, ",".join(message.recipients), message.subject)


class SmtpNotifier:
    """One e-mail per notification, to the owner and members together."""

    name = "smtp"

    def __init__(self, settings: NotifySettings, timeout: float = TIMEOUT_SECONDS):
        self.settings = settings
        self.timeout = timeout

    def send(self, message: Message) -> None:
        if not message.recipients:
            raise DeliveryError("the notification has no recipients")
        s = self.settings
        mail = EmailMessage()
        mail["From"] = s.smtp_from
        mail["To"] = ", ".join(message.recipients)
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain=s.smtp_from.rpartition("@")[2] or None)
        # Lets a mail filter (or a person) spot a repeat after a crash between send and commit.
        mail["X-Sandbox-Notification"] = f"{message.id} {message.kind}"
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password)
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:  # its text is the server's, never ours
            raise DeliveryError(f"SMTP login as {s.smtp_user} refused ({exc.smtp_code}); check [notify] "
                                "smtp_user and smtp_password") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {s.smtp_host}:{s.smtp_port}: {_one_line(exc)}") from None


class WebhookNotifier:
    """A Slack-compatible incoming webhook: POST {"text": ...} as JSON.

    The URL is a credential (anyone holding it can post), so it never reaches a log line
    or an error message.
    """

    name = "webhook"

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        if not url.startswith(("http://", "https://")):
            raise ConfigError("[notify] webhook_url must be an http(s) URL")
        self.url = url
        self.timeout = timeout

    def send(self, message: Message) -> None:
        text = f"*{message.subject}*\n{message.body}"
        if message.recipients:
            text += f"\n(to: {', '.join(message.recipients)})"
        request = urllib.request.Request(
            self.url, data=json.dumps({"text": text}).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "sandbox-cloud"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable: {_one_line(reason)}") from None


def build_notifier(settings: NotifySettings) -> Notifier:
    if settings.backend == "log":
        return LogNotifier()
    if settings.backend == "smtp":
        return SmtpNotifier(settings)
    if settings.backend == "webhook":
        if not settings.webhook_url:
            raise ConfigError('[notify] backend = "webhook" needs webhook_url')
        return WebhookNotifier(settings.webhook_url)
    raise ConfigError(f"[notify] backend {settings.backend!r} is unknown; use one of: {', '.join(BACKENDS)}")


def deliver_notifications(app: App, notifier: Notifier | None = None, *, limit: int = 100,
                          stop: Callable[[], bool] | None = None) -> SweepResult:
    """The "notify" job: send due outbox rows (by the back end [notify] names, unless given
    one); a failure reschedules the row, it never raises for one row.

    `stop`, checked between rows, hands the rows not yet sent back to the queue (the
    daemon passes its SIGTERM flag).
    """
    notifier = notifier or build_notifier(app.settings.notify)
    result = SweepResult(job="notify")
    claimed = _claim(app, limit)
    result.due = len(claimed)
    for index, (message, token) in enumerate(claimed):
        if stop is not None and stop():
            _release(app, claimed[index:])
            log.info("notify_stopped released=%d", len(claimed) - index)
            break
        try:
            notifier.send(message)
        except Exception as exc:  # noqa: BLE001 - any failure is one failed attempt of one row
            error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {_one_line(exc)}"
            gave_up = _record_failure(app, message, token, error)
            result.failed += 1
            result.errors.append(f"notification {message.id}: {error}")
            log.warning("notice_failed id=%s kind=%s backend=%s gave_up=%s error=%r",
                        message.id, message.kind, notifier.name, gave_up, error)
            continue
        _record_delivery(app, message, token)
        result.done += 1
        log.info("notice_delivered id=%s kind=%s sandbox=%s backend=%s",
                 message.id, message.kind, message.sandbox_id, notifier.name)
    return result


# ---- the outbox rows ------------------------------------------------------------------

def _claim(app: App, limit: int) -> list[tuple[Message, datetime]]:
    now = app.now()
    token = now + app.settings.daemon.lease  # the new next_attempt_at marks the row as ours
    query = (
        select(Notification)
        .where(col(Notification.delivered_at).is_(None), col(Notification.failed_at).is_(None),
               or_(col(Notification.next_attempt_at).is_(None), col(Notification.next_attempt_at) <= now))
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .limit(limit)
    )
    if app.is_postgres:
        query = query.with_for_update(skip_locked=True)
    with app.session() as session:
        rows = list(session.execute(query).scalars())
        if rows:
            session.execute(
                update(Notification).where(col(Notification.id).in_([r.id for r in rows]))
                .values(next_attempt_at=token).execution_options(synchronize_session=False))
        messages = [Message(id=r.id, kind=r.kind, sandbox_id=r.sandbox_id, recipients=tuple(r.recipients),
                            subject=r.subject, body=r.body) for r in rows]
    return [(m, token) for m in messages]


def _ours(message: Message, token: datetime):
    """Still claimed by this run: not delivered, and nobody re-claimed it after a lapse."""
    return (col(Notification.id) == message.id, col(Notification.delivered_at).is_(None),
            col(Notification.next_attempt_at) == token)


def _record_delivery(app: App, message: Message, token: datetime) -> None:
    with app.session() as session:
        session.execute(
            update(Notification).where(*_ours(message, token))
            .values(delivered_at=app.now(), attempts=Notification.attempts + 1, last_error=None)
            .execution_options(synchronize_session=False))


def _record_failure(app: App, message: Message, token: datetime, error: str) -> bool:
    """Reschedule with backoff, or give up after [notify] max_attempts; True if given up."""
    now = app.now()
    with app.session() as session:
        row = session.execute(
            select(Notification).where(*_ours(message, token)).with_for_update()).scalar_one_or_none()
        if row is None:
            return False
        attempts = row.attempts + 1
        gave_up = attempts >= app.settings.notify.max_attempts
        values: dict = {"attempts": attempts, "last_error": error[:1000]}
        if gave_up:
            values["failed_at"] = now
        else:
            values["next_attempt_at"] = now + backoff(app, attempts)
        session.execute(update(Notification).where(col(Notification.id) == row.id).values(**values)
                        .execution_options(synchronize_session=False))
    return gave_up


def _release(app: App, claimed: list[tuple[Message, datetime]]) -> None:
    with app.session() as session:
        for message, token in claimed:
            session.execute(update(Notification).where(*_ours(message, token))
                            .values(next_attempt_at=app.now())
                            .execution_options(synchronize_session=False))


def backoff(app: App, attempts: int) -> timedelta:
    """retry_backoff after the first failure, doubling after each further one."""
    return min(app.settings.daemon.retry_backoff * (2 ** min(max(attempts - 1, 0), 16)), MAX_BACKOFF)


def _one_line(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:300]
