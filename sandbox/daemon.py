"""`sandbox daemon`: the scheduler that runs the sweeps, on one machine or several.

Every job (sandbox.jobs.JOBS) is a call `fn(app, stop=...) -> SweepResult`. Deadlines live
in the sandbox table, so APScheduler only says "run the expiry sweep every 5 minutes", in a
MemoryJobStore: nothing is lost when the process dies, and two replicas never share a job
store (which APScheduler documents as running every job twice).

Several replicas:
- PostgreSQL: any number. Each sweep runs on one replica at a time (an advisory lock,
  sandbox.sweeps.base.exclusive), per-sandbox work is claimed with FOR UPDATE SKIP LOCKED
  plus a lease (claim_due), outbox rows likewise (sandbox.notify).
- SQLite: one daemon per database file, enforced with flock on `<db>.daemon.lock` held for
  the life of the process; the OS drops it when the process dies, even by SIGKILL.

Stopping: SIGTERM or SIGINT stops the scheduler from starting jobs; a running job gets
STOP_GRACE_SECONDS to finish (the notify job hands unsent rows back at once). Then the
leases this process still holds are released so another replica (or the next start)
resumes those sandboxes at once instead of after [daemon] lease, and the exit code is 0.
A second signal stops at once, releasing the leases too.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Iterator, cast

from sqlalchemy import CursorResult, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from sandbox.clock import Clock
from sandbox.config import Settings
from sandbox.db import _is_connection_error
from sandbox.errors import DatabaseUnavailableError, SandboxError
from sandbox.jobs import select_jobs
from sandbox.metrics import Metrics, MetricsServer
from sandbox.models import Sandbox
from sandbox.notify import build_notifier
from sandbox.service.app import App, build_app
from sandbox.sweeps.base import SweepResult

log = logging.getLogger("sandbox.daemon")

# Kubernetes sends SIGKILL 30 s after SIGTERM by default (terminationGracePeriodSeconds);
# leave time to release leases before that.
STOP_GRACE_SECONDS = 25.0


class DaemonAlreadyRunningError(SandboxError):
    pass


class _ForcedStop(BaseException):
    """A second SIGTERM/SIGINT: leave now (BaseException, so no sweep swallows it)."""


def is_database_loss(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailableError):
        return True
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated or _is_connection_error(exc))


class Daemon:
    """Runs jobs against one App, counts them, and knows when to stop."""

    def __init__(self, app: App, *, metrics: Metrics | None = None):
        self.app = app
        self.metrics = metrics or Metrics()
        self.stop_event = threading.Event()
        self.scheduler: Any = None  # serve()'s BlockingScheduler (APScheduler has no types)
        self._running: dict[str, int] = {}
        self._idle = threading.Condition()
        self._serving = False
        self._stranded = False  # a job cut off by a lost database left its leases behind

    # -- one job -------------------------------------------------------------------------

    def run_job(self, name: str) -> SweepResult:
        """Run one job; never raises for a failing sweep, the result says it failed."""
        [job] = select_jobs([name])
        started = time.monotonic()
        crashed = False
        with self._tracking(name):
            try:
                # Jobs check the flag between items and hand back what they have not started.
                result = job.load()(self.app, stop=self.stop_event.is_set)
            except Exception as exc:  # noqa: BLE001 - a failed run is counted and retried next time
                crashed = True
                message = _describe(exc)
                result = SweepResult(job=name, failed=1, errors=[message])
                if is_database_loss(exc):
                    # The engine pings pooled connections before use, so the next run reconnects
                    # once the server is back; leases make the interrupted item resumable.
                    self._stranded = True
                    log.error("job_failed job=%s reason=database_unavailable retry=next_run error=%r",
                              name, message)
                else:
                    log.error("job_failed job=%s reason=%s error=%r", name, type(exc).__name__, message,
                              exc_info=not isinstance(exc, SandboxError))
        seconds = time.monotonic() - started
        self.metrics.observe(result, seconds, crashed=crashed)
        if name == "pool" and not result.skipped:
            self._observe_pool()
        idle = not (result.due or result.failed or result.skipped)  # a quiet heartbeat
        log.log(logging.DEBUG if idle else logging.INFO,
                "job_done job=%s due=%d done=%d failed=%d skipped=%s seconds=%.3f",
                name, result.due, result.done, result.failed, result.skipped, seconds)
        return result

    def _observe_pool(self) -> None:
        from sandbox.reports.pool import pool_rows  # only where a pool job runs

        try:
            with self.app.session() as session:
                now = self.app.now()
                rows = pool_rows(session, now - timedelta(days=1), now + timedelta(seconds=1))
        except Exception as exc:  # noqa: BLE001 - the gauges wait for the next run
            log.warning("pool_metrics_failed error=%r", _describe(exc))
            return
        self.metrics.observe_pool(rows)

    def run_once(self, names: list[str]) -> list[SweepResult]:
        results: list[SweepResult] = []
        self._serving = True
        try:
            for name in names:
                if self.stop_event.is_set():
                    log.info("stopping skipped_jobs=%s", ",".join(names[len(results):]))
                    break
                results.append(self.run_job(name))
        finally:
            self._serving = False
        return results

    # -- the scheduler -------------------------------------------------------------------

    def serve(self, intervals: dict[str, timedelta]) -> bool:
        """Run the jobs on their intervals until stopped; False if a job outlived the grace."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.scheduler = BlockingScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=max(len(intervals), 1))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )
        first = datetime.now(timezone.utc)
        for name, interval in intervals.items():
            # A textual reference to a module-level function, as APScheduler recommends.
            self.scheduler.add_job("sandbox.daemon:run_scheduled_job", "interval", args=[self, name],
                                   id=name, name=name, seconds=interval.total_seconds(),
                                   next_run_time=first)
        log.info("daemon_started worker=%s jobs=%s", self.app.worker_id,
                 ",".join(f"{n}/{int(i.total_seconds())}s" for n, i in intervals.items()))
        self._serving = True
        try:
            if not self.stop_event.is_set():
                self.scheduler.start()
        finally:
            self._serving = False
        return self.wait_idle(STOP_GRACE_SECONDS)

    def request_stop(self, reason: str = "requested") -> None:
        if self.stop_event.is_set():
            return
        self.stop_event.set()
        log.info("stopping reason=%s running=%s", reason, ",".join(self._running) or "-")
        if self.scheduler is not None:
            # Not from the signal handler itself: it may have interrupted the scheduler
            # while it held one of its (non-reentrant) locks.
            threading.Thread(target=self._stop_scheduler, name="scheduler-stop", daemon=True).start()

    def _stop_scheduler(self) -> None:
        from apscheduler.schedulers import SchedulerNotRunningError

        deadline = time.monotonic() + 10
        while not self.scheduler.running and self._serving and time.monotonic() < deadline:
            time.sleep(0.05)  # a signal between serve()'s check and start(): wait for it to run
        try:
            self.scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("stop_grace_exceeded running=%s", ",".join(self._running))
                    return False
                self._idle.wait(min(left, 1.0))
        return True

    @contextmanager
    def _tracking(self, name: str) -> Iterator[None]:
        with self._idle:
            if self._stranded and not self._running:
                # With no job running every lease of this worker is a stranded one: hand them
                # back now rather than after [daemon] lease. Under the lock, so no job claims
                # a sandbox meanwhile.
                self.release_leases()
            self._running[name] = self._running.get(name, 0) + 1
        try:
            yield
        finally:
            with self._idle:
                self._running[name] -= 1
                if not self._running[name]:
                    del self._running[name]
                self._idle.notify_all()

    # -- health and cleanup --------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        if not self._serving or self.stop_event.is_set():
            return False, "stopped"
        try:
            with self.app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            return False, f"database unreachable ({type(exc).__name__})"
        return True, "ok"

    def release_leases(self) -> int:
        """Hand back every sandbox this worker still holds, so others need not wait the lease out."""
        mine = col(Sandbox.lease_owner).startswith(f"{self.app.worker_id}:", autoescape=True)  # see steps.Lease
        try:
            with self.app.session() as session:
                count = cast(CursorResult, session.execute(
                    update(Sandbox).where(mine)
                    .values(lease_owner=None, lease_until=None)
                    .execution_options(synchronize_session=False))).rowcount
        except Exception as exc:  # noqa: BLE001 - the lease then simply runs out
            log.warning("lease_release_failed error=%r", _describe(exc))
            return 0
        self._stranded = False
        if count:
            log.info("leases_released count=%d worker=%s", count, self.app.worker_id)
        return count


def run_scheduled_job(daemon: Daemon, name: str) -> None:
    """APScheduler's entry point for every job."""
    if not daemon.stop_event.is_set():
        daemon.run_job(name)


# ---- the command ------------------------------------------------------------------------

def run_daemon(settings: Settings, *, once: bool = False, jobs: list[str] | tuple[str, ...] = (),
               clock: Clock | None = None, out: IO[str] | None = None) -> int:
    """`sandbox daemon [--once] [--job NAME ...]`; returns the exit code."""
    out = out or sys.stdout
    selected = select_jobs(jobs)
    build_notifier(settings.notify)  # a bad [notify] section stops the daemon here, not at each delivery
    with _stderr_logging(), _database_lock(settings.database_url()):
        app = build_app(settings, clock=clock)
        daemon = Daemon(app)
        server = None
        finished = True
        try:
            if settings.daemon.metrics_port:
                server = MetricsServer(daemon.metrics, daemon.health, settings.daemon.metrics_port).start()
            with _signals(daemon):
                if once:
                    results = daemon.run_once([job.name for job in selected])
                    for result in results:
                        print(result.summary(), file=out, flush=True)
                    return 0 if all(r.ok for r in results) else 1
                finished = daemon.serve({job.name: getattr(settings.daemon, job.interval_key)
                                         for job in selected})
                return 0
        except _ForcedStop:
            finished = daemon.wait_idle(0)  # in --once the job ran in this thread and is over
            return 0
        finally:
            daemon.release_leases()
            if server is not None:
                server.stop()
            log.info("daemon_stopped worker=%s", app.worker_id)
            app.close()
            if not finished:
                # A sweep thread is still inside a cloud call; the interpreter would wait
                # for it at exit. Its lease is released and its steps are resumable.
                logging.shutdown()
                os._exit(0)


@contextmanager
def _signals(daemon: Daemon) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (an embedding test, say)
        return

    def on_signal(signum, _frame):
        if daemon.stop_event.is_set():
            log.warning("stopping_now signal=%s", signal.Signals(signum).name)
            raise _ForcedStop()
        daemon.request_stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _database_lock(url: str) -> Iterator[None]:
    """SQLite: refuse a second daemon on the same file; other databases: nothing to do."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        yield
        return
    database = Path(parsed.database).resolve()
    if not database.exists():  # build_app refuses it next: no lock file beside a database that is not there
        yield
        return
    lock_path = database.with_name(database.name + ".daemon.lock")
    handle = open(lock_path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process"
            raise DaemonAlreadyRunningError(
                f"another sandbox daemon ({holder}) is already running on {database}; SQLite allows "
                "one daemon per database: stop that one, or move to PostgreSQL to run several replicas"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file drops the lock


@contextmanager
def _stderr_logging() -> Iterator[None]:
    """key=value lines on stderr for the daemon's life (journald, docker logs, kubectl logs)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
                                           "%Y-%m-%dT%H:%M:%S%z"))
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if os.environ.get("SANDBOX_DEBUG") else logging.INFO)
    quiet = {name: logging.getLogger(name).level for name in
             ("apscheduler", "botocore", "boto3", "urllib3", "googleapiclient", "google")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def _describe(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    first = text_.splitlines()[0] if text_ else ""
    return f"{type(exc).__name__}: {first}"[:500] if not isinstance(exc, SandboxError) else first[:500]
