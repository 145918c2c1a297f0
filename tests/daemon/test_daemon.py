"""`sandbox daemon`: --once and its exit codes, crashes, SIGTERM, the SQLite lock, /healthz and /metrics,
leases handed back at the end."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from sandbox.cli import main
from sandbox.clock import FrozenClock
from sandbox.config import load_settings
from sandbox.daemon import Daemon, run_daemon
from sandbox.db import make_engine
from sandbox.jobs import JOB_NAMES, JOBS
from sandbox.metrics import Metrics, MetricsServer
from sandbox.models import Sandbox
from sandbox.service import bootstrap, build_app
from sandbox.service.steps import claim
from tests.conftest import ADMIN, ALICE
from tests.daemon.conftest import (DEAD_URL, accounts_by_email, clean_env, daemon_command, events_by_sandbox,
                                   free_port, queue_notices, request_many, write_config)


def invoke(config, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), "daemon", *args],
                              env={"SANDBOX_USER": "admin@example.com"})


def test_once_runs_every_job_in_order_and_exits_zero(tmp_path, db_url, aws_url, gcp_url):
    config = write_config(tmp_path / "sandbox.toml", db_url, aws_url, gcp_url)

    result = invoke(config, "--once")

    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == list(JOB_NAMES)
    assert all(line.endswith("0/0 done") for line in lines), lines


def test_once_exits_non_zero_when_a_job_fails(tmp_path, db_url, make_app):
    config = write_config(tmp_path / "sandbox.toml", db_url,
                          notify={"backend": "webhook", "webhook_url": f"{DEAD_URL}/hook"})
    queue_notices(make_app())

    result = invoke(config, "--once", "--job", "notify")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "notify: 0/1 done, 1 failed (first: notification 1: webhook unreachable: [Errno 111] Connection refused)"]


def test_unknown_job_is_one_line_naming_the_jobs(tmp_path, db_url):
    result = invoke(write_config(tmp_path / "sandbox.toml", db_url), "--once", "--job", "expire")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: unknown job 'expire'; jobs: provision, expiry, budgets, tags, reconcile, pool, notify"]


def test_once_notify_job_mails_the_queued_notification(tmp_path, db_url, make_app, smtp_server):
    config = write_config(tmp_path / "sandbox.toml", db_url,
                          notify={"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port})
    queue_notices(make_app())

    result = invoke(config, "--once", "--job", "notify")

    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout == "notify: 1/1 done\n"
    [mail] = smtp_server.messages
    assert mail["rcpt"] == [ALICE.email]
    assert mail["mail"]["X-Sandbox-Notification"] == "1 expiry_warning"
    assert invoke(config, "--once", "--job", "notify").stdout == "notify: 0/0 done\n"  # sent once


@pytest.mark.parametrize("crash_after", ["create_request_id", "account_id"])
def test_sigkill_between_create_account_and_the_database_then_restart(
        crash_after, tmp_path, db_url, aws_url, fast_templates):
    config = write_config(tmp_path / "sandbox.toml", db_url, aws_url, quotas={"max_live_per_user": 0},
                          templates={"dirs": [str(fast_templates)]})
    settings = load_settings(str(config))
    now = datetime.now(timezone.utc)
    app = build_app(settings, clock=FrozenClock(now))
    bootstrap(app, ADMIN, ["aws"])
    [sandbox_id] = request_many(app, 1)

    killed = subprocess.run(daemon_command(config, "--once", "--job", "provision", crash_after=crash_after),
                            capture_output=True, text=True, timeout=60, env=clean_env())
    with app.session() as session:
        crashed = session.get(Sandbox, sandbox_id)
    out = io.StringIO()
    too_soon = run_daemon(settings, once=True, jobs=["provision"], clock=FrozenClock(now), out=out)
    after_lease = run_daemon(settings, once=True, jobs=["provision"], out=out,
                             clock=FrozenClock(now + timedelta(minutes=16)))  # [daemon] lease is 15m
    with app.session() as session:
        final = session.get(Sandbox, sandbox_id)
    app.engine.dispose()

    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert crashed.state == "provisioning" and crashed.progress.get(crash_after)
    # The dead worker's lease ("<host>:<its pid>:<token>", for [daemon] lease = 15m): nobody may take it yet.
    held = re.fullmatch(rf"{re.escape(socket.gethostname()[:48])}:(\d+):[0-9a-f]{{8}}", crashed.lease_owner)
    assert held and int(held[1]) != os.getpid(), crashed.lease_owner
    assert now + timedelta(minutes=15) <= crashed.lease_until <= datetime.now(timezone.utc) + timedelta(minutes=15)
    assert (too_soon, after_lease) == (0, 0)
    assert out.getvalue().splitlines() == ["provision: 0/0 done", "provision: 1/1 done"]
    assert final.state == "active" and final.lease_owner is None
    assert accounts_by_email(aws_url)[settings.clouds["aws"].email_pattern.format(name=final.name)] == 1
    assert events_by_sandbox(app, "provisioned") == {sandbox_id: 1}


def test_sqlite_refuses_a_second_daemon_and_sigterm_exits_cleanly(tmp_path, db_url, aws_url, gcp_url):
    """The scheduler mode end to end: health and metrics answer, a second daemon is refused
    on SQLite (and welcome on PostgreSQL), SIGTERM stops it with exit code 0."""
    port = free_port()
    tiny = {job.interval_key: "1s" for job in JOBS}
    config = write_config(tmp_path / "sandbox.toml", db_url, aws_url, gcp_url,
                          daemon={**tiny, "metrics_port": port})
    log_file = (tmp_path / "daemon.log").open("w+")
    process = subprocess.Popen(daemon_command(config), stdout=log_file, stderr=subprocess.STDOUT,
                               env=clean_env(), text=True)
    try:
        health = _wait_for(f"http://127.0.0.1:{port}/healthz", process)
        metrics = _wait_for(f"http://127.0.0.1:{port}/metrics", process,
                            until=lambda text: all(_sample(text, "sandbox_sweep_runs_total", job=job, outcome="ok")
                                                   for job in JOB_NAMES))
        other_port = free_port()
        second = invoke(write_config(tmp_path / "second.toml", db_url, aws_url, gcp_url,
                                     daemon={"metrics_port": other_port}), "--once", "--job", "notify")
        process.send_signal(signal.SIGTERM)
        code = process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
    log_file.seek(0)
    log = log_file.read()

    assert health == "ok\n"
    for job in JOB_NAMES:
        assert _sample(metrics, "sandbox_sweep_duration_seconds_count", job=job) >= 1
        assert _sample(metrics, "sandbox_sweep_last_success_timestamp_seconds", job=job) > 0
    assert "sandbox_sweep_items_due_total" in metrics and "sandbox_sweep_failures_total" in metrics
    if db_url.startswith("sqlite"):
        assert second.exit_code == 1
        [line] = second.stderr.splitlines()
        assert line.startswith("error: another sandbox daemon (pid ") and "already running on" in line
        assert "move to PostgreSQL to run several replicas" in line
    else:
        assert second.exit_code == 0 and second.stdout == "notify: 0/0 done\n"
    assert code == 0, log[-3000:]
    assert "stopping reason=SIGTERM" in log and "daemon_stopped" in log
    assert "Traceback" not in log


def _wait_for(url: str, process, until=lambda text: True, timeout: float = 30.0) -> str:
    """Poll an endpoint the daemon serves until it answers 200 (with a text `until` accepts)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        assert process.poll() is None, "the daemon exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                last = response.read().decode()
                if until(last):
                    return last
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer as expected in {timeout}s; last: {last[-500:]}")


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a /metrics text, None if it has none."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_metrics_show_every_job_before_it_first_runs():
    metrics = Metrics().render().decode()

    for job in JOB_NAMES:
        assert _sample(metrics, "sandbox_sweep_last_success_timestamp_seconds", job=job) == 0
        for outcome in ("ok", "failed", "skipped"):
            assert _sample(metrics, "sandbox_sweep_runs_total", job=job, outcome=outcome) == 0
    assert _sample(metrics, "sandbox_sweep_runs_total", job="nonesuch", outcome="ok") is None


def test_release_leases_hands_back_this_workers_leases_only(make_app):
    apps = {worker: make_app(worker_id=worker, quotas={"max_live_per_user": 0}) for worker in ("replica-1", "replica-10")}
    sandbox_ids = {worker: request_many(app, 2, template="aws-individual") for worker, app in apps.items()}
    for worker, app in apps.items():
        assert all(claim(app, sandbox_id) for sandbox_id in sandbox_ids[worker])

    assert Daemon(apps["replica-1"]).release_leases() == 2

    with apps["replica-1"].session() as session:
        owners = {worker: [session.get(Sandbox, sandbox_id).lease_owner for sandbox_id in ids]
                  for worker, ids in sandbox_ids.items()}
    assert owners["replica-1"] == [None, None]
    assert all(owner.startswith("replica-10:") for owner in owners["replica-10"])


def test_healthz_is_503_when_stopped_or_the_database_is_gone(make_app):
    app = make_app()
    gone = build_app(app.settings, check=False,
                     engine=make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere"))
    servers = []
    try:
        for application, serving in ((app, True), (app, False), (gone, True)):
            daemon = Daemon(application)
            daemon._serving = serving  # as while run_once / serve is running
            servers.append(MetricsServer(daemon.metrics, daemon.health, free_port(), host="127.0.0.1").start())
        answers = []
        for server in servers:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz") as response:
                    answers.append((response.status, response.read().decode().strip()))
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, exc.read().decode().strip()))
    finally:
        for server in servers:
            server.stop()
        gone.engine.dispose()

    assert answers == [(200, "ok"), (503, "stopped"), (503, "database unreachable (OperationalError)")]
