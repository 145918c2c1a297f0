"""PostgreSQL going away under the daemon and under the CLI.

A TcpProxy (tests.faults.proxies) sits between the code and PostgreSQL; cutting it is a
server restart as the client sees it: every connection dropped, new ones refused until it
is back (or accepted at once: a restart that was over in an instant). The other tests'
databases on the same server are untouched.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest

from sandbox.clock import FrozenClock
from sandbox.daemon import Daemon
from sandbox.service import bootstrap, request_sandbox
from tests.conftest import ADMIN, ALICE
from tests.faults import checks


class CutAtStep(logging.Handler):
    """Watches sandbox.steps' step_done lines; at the nth, restarts the database from another
    thread (and lets the sweep go on only once the connections are gone)."""

    def __init__(self, proxy, nth: int):
        super().__init__(logging.INFO)
        self.proxy, self.nth, self.seen = proxy, nth, 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("step_done"):
            self.seen += 1
            if self.seen == self.nth:
                cutter = threading.Thread(target=self.proxy.cut, name="db-restart")
                cutter.start()
                cutter.join(10)


@pytest.fixture
def cut_at_step(caplog):
    logger = logging.getLogger("sandbox.steps")
    handlers = []

    def install(proxy, nth: int) -> CutAtStep:
        handlers.append(CutAtStep(proxy, nth))
        logger.addHandler(handlers[-1])
        return handlers[-1]

    with caplog.at_level(logging.INFO, logger="sandbox.steps"):
        yield install
    for handler in handlers:
        logger.removeHandler(handler)


def _all_provisioned_once(app, aws_url, ids) -> None:
    assert {s.id: s.state for s in checks.sandboxes(app)} == {sandbox_id: "active" for sandbox_id in ids}
    assert all(s.lease_owner is None for s in checks.sandboxes(app))
    for action in ("provision_start", "provisioned"):
        assert checks.action_counts(app, action) == {sandbox_id: 1 for sandbox_id in ids}, action
    assert checks.action_counts(app, "provision_failed") == {}
    for row in checks.sandboxes(app):
        accounts = checks.accounts_with_email(aws_url, f"aws+{row.name}@example.com")
        assert [a["Id"] for a in accounts] == [row.cloud_id]
    checks.assert_lifecycle_legal(app)


def lost_database(caplog) -> int:
    """How many job runs the daemon logged as failed for want of the database (retried next run)."""
    return caplog.text.count("reason=database_unavailable retry=next_run")


def test_restart_during_a_provisioning_sweep_fails_it_and_a_later_sweep_recovers_alone(
        make_pg_stack, pg_proxy, aws_url, cut_at_step, caplog):
    stack = make_pg_stack(aws={"concurrency": 2})
    direct = stack.app()  # arranges and inspects, straight to PostgreSQL
    bootstrap(direct, ADMIN, ["aws"])
    ids = [request_sandbox(direct, ALICE, "fast")["id"] for _ in range(4)]
    daemon = Daemon(stack.app(url=pg_proxy.url))  # the daemon reaches PostgreSQL through the proxy
    cutter = cut_at_step(pg_proxy, nth=3)

    interrupted = daemon.run_job("provision")
    while_down = daemon.run_job("provision")
    pg_proxy.restore()
    recovered = daemon.run_job("provision")
    idle = daemon.run_job("provision")

    assert cutter.seen >= 3 and pg_proxy.cuts == 1
    assert not interrupted.ok and not while_down.ok and "Connection refused" in while_down.errors[0]
    assert lost_database(caplog) == 2
    assert (recovered.failed, recovered.done) == (0, recovered.due) and recovered.due >= 1
    assert idle.due == 0
    _all_provisioned_once(direct, aws_url, ids)


def test_instant_restart_mid_transaction_leaves_the_sandbox_to_be_resumed_not_failed(
        make_pg_stack, pg_proxy, aws_url, caplog):
    """The connection dies inside a step's transaction and the server is back at once: the
    sweep reports it, the sandbox stays provisioning, the next sweep finishes it."""
    stack = make_pg_stack()
    direct = stack.app()
    bootstrap(direct, ADMIN, ["aws"])
    ids = [request_sandbox(direct, ALICE, "fast")["id"] for _ in range(2)]
    daemon = Daemon(stack.app(url=pg_proxy.url))
    pg_proxy.cut_on(b"INSERT INTO credential", refuse=False)  # storing the first password

    interrupted = daemon.run_job("provision")
    after = {s.id: s.state for s in checks.sandboxes(direct)}
    recovered = daemon.run_job("provision")

    assert pg_proxy.cuts == 1 and not pg_proxy.armed
    assert not interrupted.ok and lost_database(caplog) == 1
    assert set(after.values()) <= {"provisioning", "requested"}, after
    assert (recovered.failed, recovered.done) == (0, recovered.due)
    _all_provisioned_once(direct, aws_url, ids)
    for sandbox_id in ids:
        assert checks.credentials(direct, sandbox_id) == {(ALICE.email, "password"): 1}


def test_restart_during_the_expiry_sweep_freezes_each_sandbox_exactly_once(
        make_pg_stack, pg_proxy, aws_url, caplog):
    stack = make_pg_stack()
    clock = FrozenClock()
    direct = stack.app(clock=clock)
    bootstrap(direct, ADMIN, ["aws"])
    ids = [request_sandbox(direct, ALICE, "fast", ttl="1d")["id"] for _ in range(3)]
    Daemon(direct).run_job("provision")
    clock.advance(timedelta(days=1))  # all three expire
    daemon = Daemon(stack.app(url=pg_proxy.url, clock=clock))
    # The second freeze's transaction (state, event, notice) is cut before it reaches the server.
    pg_proxy.cut_on(b"INSERT INTO event", nth=2, refuse=False)

    interrupted = daemon.run_job("expiry")
    recovered = daemon.run_job("expiry")

    assert pg_proxy.cuts == 1
    assert not interrupted.ok and lost_database(caplog) == 1
    assert recovered.ok and recovered.done == recovered.due
    rows = checks.sandboxes(direct)
    assert {r.id: r.state for r in rows} == {sandbox_id: "frozen" for sandbox_id in ids}
    assert checks.action_counts(direct, "freeze") == {sandbox_id: 1 for sandbox_id in ids}
    for row in rows:
        assert checks.ou_path(aws_url, row.cloud_id) == "/sandbox/frozen"
        assert checks.login_profile(checks.member_iam(aws_url, row.cloud_id), ALICE.email) is None
    checks.assert_lifecycle_legal(direct)


@pytest.mark.parametrize("moment", ["before the commit", "commit done, answer lost", "server down"])
def test_cli_request_during_a_restart_is_one_line_and_all_or_nothing(moment, make_pg_stack, pg_proxy):
    stack = make_pg_stack()
    direct = stack.app()
    through = stack.with_database(pg_proxy.url)
    if moment == "server down":
        pg_proxy.cut()
    else:
        # The COMMIT of the transaction that wrote the request (the connection's set-up commits too).
        pg_proxy.cut_on(b"COMMIT", after=b"INSERT INTO event", forward=moment.startswith("commit done"))

    failed = through.cli("request", "fast")
    pg_proxy.restore()
    later = request_sandbox(stack.app(url=pg_proxy.url), ALICE, "fast")  # back: requests work again

    assert failed.returncode == 2 and failed.stdout == ""
    [line] = failed.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:"
                           f"{pg_proxy.port}/") and line.endswith("; check [database] url"), line
    committed = moment.startswith("commit done")
    rows = checks.sandboxes(direct)
    assert len(rows) == (2 if committed else 1)
    assert rows[-1].id == later["id"]
    for row in rows:  # never a sandbox without its owner or its request event
        assert checks.actions(direct, row.id) == ["request"]
        assert checks.credentials(direct, row.id) == {}
    with direct.session() as session:
        from sqlmodel import select

        from sandbox.models import Member
        owners = session.exec(select(Member.sandbox_id).where(Member.role == "owner")).all()
    assert sorted(owners) == sorted(r.id for r in rows)
    checks.assert_lifecycle_legal(direct)
