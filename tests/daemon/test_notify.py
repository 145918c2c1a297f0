"""The notification outbox: delivered by log, SMTP and webhook, retried, never sent twice."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from sandbox.models import Notification
from sandbox.notify import deliver_notifications
from tests.conftest import ALICE, BOB
from tests.daemon.conftest import SmtpServer, WebhookServer, free_port, queue_notices


def rows(app) -> list[Notification]:
    with app.session() as session:
        return list(session.exec(select(Notification).order_by(Notification.id)).all())


def test_smtp_mails_owner_and_members_once(make_app, smtp_server):
    app = make_app(notify={"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port,
                           "smtp_from": "sandbox@corp.example"})
    sandbox_id = queue_notices(app, members=[BOB.email], kind="ready")

    result = deliver_notifications(app)
    again = deliver_notifications(app)

    assert (result.due, result.done, result.failed) == (1, 1, 0)
    assert (again.due, again.done) == (0, 0)
    [mail] = smtp_server.messages
    assert mail["from"] == "sandbox@corp.example"
    assert sorted(mail["rcpt"]) == [ALICE.email, BOB.email]
    assert mail["subject"].startswith("Sandbox ") and mail["subject"].endswith(" is ready")
    assert f"sandbox credentials {sandbox_id}" in mail["mail"].get_content()
    [row] = rows(app)
    assert row.delivered_at == app.now() and row.attempts == 1 and row.last_error is None


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_logs_in_and_never_logs_the_password(make_app, caplog):
    server = SmtpServer(free_port(), credentials=("mailer", "s3cret-pass")).start()
    smtp = {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_user": "mailer"}
    try:
        good = make_app(notify={**smtp, "smtp_password": "s3cret-pass"})
        bad = make_app(notify={**smtp, "smtp_password": "wrong-pass"})
        queue_notices(good)
        with caplog.at_level(logging.DEBUG):
            delivered = deliver_notifications(good)
            queue_notices(bad, kind="expiry_warning")  # the same database, a second pending row
            refused = deliver_notifications(bad)
    finally:
        server.stop()

    assert delivered.done == 1 and len(server.messages) == 1
    assert set(server.logins) == {"mailer"}  # smtplib tries PLAIN, then LOGIN, when refused
    assert refused.failed == 1 and "check [notify] smtp_user and smtp_password" in refused.errors[0]
    assert "s3cret-pass" not in caplog.text and "wrong-pass" not in caplog.text
    assert not any("wrong-pass" in (r.last_error or "") for r in rows(bad))


def test_webhook_posts_slack_json(make_app, webhook):
    app = make_app(notify={"backend": "webhook", "webhook_url": webhook.url()})
    queue_notices(app, count=2)

    result = deliver_notifications(app)

    assert (result.due, result.done) == (2, 2)
    assert webhook.paths == ["/services/T000/B000/XXXX"] * 2
    assert sorted(t.splitlines()[0] for t in webhook.texts()) == sorted(f"*{r.subject}*" for r in rows(app))
    assert all(t.endswith(f"(to: {ALICE.email})") for t in webhook.texts())


def test_log_backend_writes_key_value_lines(make_app, caplog):
    app = make_app(notify={"backend": "log"})
    queue_notices(app)
    with caplog.at_level(logging.INFO, logger="sandbox.notify"):
        assert deliver_notifications(app).done == 1
    assert f"kind=expiry_warning sandbox={rows(app)[0].sandbox_id} recipients={ALICE.email}" in caplog.text


class _Later:
    """A back end on a port where nothing listens yet; `up()` starts the real server there."""

    def __init__(self, backend: str):
        self.port = free_port()
        self.backend = backend
        self.server = None
        if backend == "smtp":
            self.notify = {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": self.port}
        else:  # a token in the URL, as Slack's have: it must not reach a log line
            self.notify = {"backend": "webhook", "webhook_url": f"http://127.0.0.1:{self.port}/hook/SECRETTOKEN"}

    def up(self) -> None:
        self.server = SmtpServer(self.port).start() if self.backend == "smtp" else WebhookServer(self.port).start()

    def received(self) -> int:
        return len(self.server.messages if self.backend == "smtp" else self.server.requests)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.mark.parametrize("backend", ["smtp", "webhook"])
def test_server_down_is_retried_with_backoff_then_delivered_once(backend, make_app, clock, caplog):
    later = _Later(backend)
    app = make_app(notify=later.notify, daemon={"retry_backoff": "1m"})
    queue_notices(app)
    try:
        first = deliver_notifications(app)
        after_first = rows(app)[0]
        too_early = deliver_notifications(app)
        clock.advance(timedelta(minutes=1))
        second = deliver_notifications(app)
        after_second = rows(app)[0]
        later.up()
        clock.advance(timedelta(minutes=2))
        third = deliver_notifications(app)
        clock.advance(timedelta(days=1))
        fourth = deliver_notifications(app)
        received = later.received()
    finally:
        later.stop()

    assert (first.failed, too_early.due, second.failed, third.done, fourth.due) == (1, 0, 1, 1, 0)
    assert after_first.attempts == 1
    assert after_first.next_attempt_at == after_first.created_at + timedelta(minutes=1)
    assert after_second.attempts == 2
    assert after_second.next_attempt_at == after_first.created_at + timedelta(minutes=1 + 2)  # doubled
    assert received == 1
    final = rows(app)[0]
    # Delivered by the third pass, a day before the fourth found nothing due.
    assert final.delivered_at == clock.now() - timedelta(days=1) and final.attempts == 3 and final.failed_at is None
    assert "SECRETTOKEN" not in caplog.text and "SECRETTOKEN" not in (after_second.last_error or "")


def test_gives_up_after_max_attempts(make_app, webhook, clock):
    webhook.status = 500
    app = make_app(notify={"backend": "webhook", "webhook_url": webhook.url(), "max_attempts": 2})
    queue_notices(app)

    results = []
    for _ in range(4):
        results.append(deliver_notifications(app))
        clock.advance(timedelta(hours=7))

    assert [r.failed for r in results] == [1, 1, 0, 0]
    [row] = rows(app)
    # Given up at the second pass (7 hours in); two more passes and 21 hours have gone by since.
    assert row.attempts == 2 and row.failed_at == clock.now() - timedelta(hours=21) and row.delivered_at is None
    assert row.last_error == "webhook answered HTTP 500"


def test_stop_hands_unsent_rows_back(make_app, webhook):
    app = make_app(notify={"backend": "webhook", "webhook_url": webhook.url()})
    queue_notices(app, count=3)
    sent = []

    def stop() -> bool:
        sent.append(len(webhook.requests))
        return len(webhook.requests) >= 1

    stopped = deliver_notifications(app, stop=stop)
    rest = deliver_notifications(app)

    assert (stopped.due, stopped.done) == (3, 1)
    assert (rest.due, rest.done) == (2, 2)  # due at once, not after the lease
    assert len(webhook.requests) == 3 and len(set(webhook.texts())) == 3


def test_two_replicas_never_send_one_twice(make_app, webhook, clock):
    """Two daemons (own engines, own worker ids) drain one outbox at the same time."""
    notify = {"backend": "webhook", "webhook_url": webhook.url()}
    replicas = [make_app(notify=notify, worker_id=f"replica-{n}") for n in range(2)]
    count = 60
    queue_notices(replicas[0], count=count)
    results, barrier = [], threading.Barrier(2)

    def drain(app):
        barrier.wait()
        while True:
            result = deliver_notifications(app, limit=5)
            results.append(result)
            if not result.due:
                return

    threads = [threading.Thread(target=drain, args=(app,)) for app in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    texts = webhook.texts()
    assert len(texts) == count and len(set(texts)) == count
    assert sum(r.done for r in results) == count and sum(r.failed for r in results) == 0
    assert {(r.delivered_at, r.attempts) for r in rows(replicas[0])} == {(clock.now(), 1)}
