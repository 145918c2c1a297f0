"""Several replicas on one PostgreSQL, and a PostgreSQL that goes away mid-sweep."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select, text

from sandbox.daemon import Daemon
from sandbox.lifecycle import ACTIVE
from sandbox.models import Sandbox
from sandbox.service import bootstrap
from tests.conftest import ADMIN
from tests.daemon.conftest import (ROOT, CountingProvider, accounts_by_email, events_by_sandbox, free_port,
                                   request_many)

# The issue asks for 200. Against moto that takes about 55 s on an idle two-core machine
# (moto serves ~35 requests/s from one process, 9 per sandbox, and the provision sweep
# runs on one replica at a time), and minutes on a loaded one, so the suite runs 50 and
# SANDBOX_TEST_REPLICA_SANDBOXES=200 runs the full number.
REPLICA_SANDBOXES = int(os.environ.get("SANDBOX_TEST_REPLICA_SANDBOXES", "200"))  # the figure


@pytest.fixture(scope="module")
def moto_process():
    """moto in its own process: the replicas' threads and moto then do not share one GIL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "emulator", "aws", "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        assert "listening" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def db_url(pg_url):
    """Replicas and connection loss are PostgreSQL scenarios (SQLite refuses a second daemon:
    tests/daemon/test_daemon.py), so this module runs on PostgreSQL only."""
    return pg_url


def _states(app) -> Counter:
    with app.session() as session:
        return Counter(dict(session.execute(select(Sandbox.state, func.count()).group_by(Sandbox.state)).all()))


def test_two_replicas_provision_each_sandbox_exactly_once(db_url, make_app, fast_templates, moto_process):
    sections = {"quotas": {"max_live_per_user": 0}, "templates": {"dirs": [str(fast_templates)]}}
    replicas = [make_app(aws_url=moto_process, worker_id=f"replica-{n}", **sections) for n in range(2)]
    bootstrap(replicas[0], ADMIN, ["aws"])
    ids = request_many(replicas[0], REPLICA_SANDBOXES)
    calls: Counter = Counter()
    for app in replicas:
        app.use_provider("aws", CountingProvider(app.provider("aws"), calls))
    daemons = [Daemon(app) for app in replicas]
    outcomes: list[list] = [[], []]
    start = threading.Barrier(2)

    def replica(n: int) -> None:
        start.wait()
        while _states(replicas[n])[ACTIVE] < REPLICA_SANDBOXES:
            result = daemons[n].run_job("provision")
            outcomes[n].append(result)
            if result.skipped:
                time.sleep(0.05)  # the other replica holds the sweep; ask again shortly
            elif not result.due:
                return

    began = time.monotonic()
    threads = [threading.Thread(target=replica, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    elapsed = time.monotonic() - began

    runs = [r for results in outcomes for r in results]
    assert sum(r.done for r in runs) == REPLICA_SANDBOXES and sum(r.failed for r in runs) == 0, \
        [r.summary() for r in runs if r.failed][:3]
    assert _states(replicas[0]) == Counter({ACTIVE: REPLICA_SANDBOXES})
    assert calls == Counter({sandbox_id: 1 for sandbox_id in ids})  # provider work: once each
    assert set(events_by_sandbox(replicas[0], "provisioned").values()) == {1}
    assert set(events_by_sandbox(replicas[0], "provision_start").values()) == {1}
    emails = accounts_by_email(moto_process)
    assert sum(1 for e in emails if e.startswith("aws+")) == REPLICA_SANDBOXES
    assert set(emails.values()) == {1}
    print(f"{REPLICA_SANDBOXES} sandboxes by two replicas in {elapsed:.1f}s; "
          f"runs per replica: {[len(o) for o in outcomes]}, skipped: {sum(r.skipped for r in runs)}")


def test_database_lost_mid_sweep_is_logged_retried_and_nothing_doubles(db_url, make_app, fast_templates,
                                                                         aws_url, caplog):
    app = make_app(aws_url=aws_url, quotas={"max_live_per_user": 0},
                   templates={"dirs": [str(fast_templates)]}, aws={"concurrency": 2})
    bootstrap(app, ADMIN, ["aws"])
    ids = request_many(app, 10)
    database = app.engine.url.database
    admin = create_engine(app.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def cut_database(number: int) -> None:
        """At the 4th provision call: refuse new connections and kill every open one."""
        if number != 4:
            return
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database})

    calls: Counter = Counter()
    app.use_provider("aws", CountingProvider(app.provider("aws"), calls, before=cut_database))
    daemon = Daemon(app)
    try:
        with caplog.at_level(logging.INFO, logger="sandbox.daemon"):
            cut = daemon.run_job("provision")
            down = daemon.run_job("provision")  # still down: fails fast, logged again
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
    # Back: kill the connections the pool still holds, between two runs, for good measure.
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database})
    admin.dispose()
    results = [daemon.run_job("provision") for _ in range(3)]

    assert not cut.ok and not down.ok
    assert caplog.text.count("job_failed job=provision reason=database_unavailable") == 2
    assert sum(r.failed for r in results) == 0 and results[-1].due == 0
    assert _states(app) == Counter({ACTIVE: len(ids)})
    assert set(events_by_sandbox(app, "provisioned").values()) == {1}
    assert set(events_by_sandbox(app, "provision_start").values()) == {1}
    assert sum(events_by_sandbox(app, "provision_failed").values()) == 0
    assert set(accounts_by_email(aws_url).values()) == {1}
    assert sum(1 for e in accounts_by_email(aws_url) if e.startswith("aws+")) == len(ids)
    assert max(calls.values()) <= 2  # interrupted ones were resumed once, not restarted
