"""The daemon's Prometheus metrics and its small HTTP endpoint (/healthz, /metrics).

Each daemon gets its own CollectorRegistry instead of prometheus-client's global one, so
tests (and anything embedding several daemons in one process) never collide.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sandbox.jobs import JOB_NAMES
from sandbox.sweeps.base import SweepResult

log = logging.getLogger("sandbox.metrics")

OUTCOMES = ("ok", "failed", "skipped")
POOL_GAUGE_STATES = ("ready", "leased", "cleaning", "quarantined")
# Sweeps range from milliseconds (nothing due) to many minutes (CreateAccount waits).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.duration = Histogram("sandbox_sweep_duration_seconds", "Wall time of one run of a job.",
                                  ["job"], registry=self.registry, buckets=DURATION_BUCKETS)
        self.due = Counter("sandbox_sweep_items_due", "Items found due by a job.", ["job"],
                           registry=self.registry)
        self.done = Counter("sandbox_sweep_items_done", "Items a job handled successfully.", ["job"],
                            registry=self.registry)
        self.failures = Counter("sandbox_sweep_failures",
                                "Failed items, plus runs that failed as a whole (a lost database, say).",
                                ["job"], registry=self.registry)
        self.runs = Counter("sandbox_sweep_runs", "Runs of a job by outcome (ok, failed, skipped).",
                            ["job", "outcome"], registry=self.registry)
        self.last_success = Gauge("sandbox_sweep_last_success_timestamp_seconds",
                                  "Unix time at the end of the job's last run without failures.",
                                  ["job"], registry=self.registry)
        # The pool's figures are the database's, so every replica reports the same ones.
        self.pool_size = Gauge("sandbox_pool_size", "Accounts in the pool (every state but retired).",
                               ["provider"], registry=self.registry)
        self.pool_accounts = Gauge("sandbox_pool_accounts", "Pool accounts per state.", ["provider", "state"],
                                   registry=self.registry)
        self.pool_leases = Gauge("sandbox_pool_leases_last_day", "Accounts leased in the last 24 hours.",
                                 ["provider"], registry=self.registry)
        self.pool_lease_wait = Gauge("sandbox_pool_lease_wait_seconds_last_day",
                                     "Median seconds from request (or approval) to lease, last 24 hours.",
                                     ["provider"], registry=self.registry)
        self.pool_failed_passes = Gauge("sandbox_pool_failed_clean_passes_last_day",
                                        "Clean passes that failed in the last 24 hours.", ["provider"],
                                        registry=self.registry)
        # Every job's series exist from the start, so a job that never succeeded shows its
        # last success at 0 (an alert on its age fires) instead of no series at all.
        for job in JOB_NAMES:
            for metric in (self.duration, self.due, self.done, self.failures, self.last_success):
                metric.labels(job)
            for outcome in OUTCOMES:
                self.runs.labels(job, outcome)

    def observe(self, result: SweepResult, seconds: float, *, crashed: bool = False) -> None:
        job = result.job
        self.duration.labels(job).observe(seconds)
        self.due.labels(job).inc(result.due)
        self.done.labels(job).inc(result.done)
        self.failures.labels(job).inc(result.failed)
        if result.skipped:
            outcome = "skipped"
        elif result.ok and not crashed:
            outcome = "ok"
            self.last_success.labels(job).set(time.time())
        else:
            outcome = "failed"
        self.runs.labels(job, outcome).inc()

    def observe_pool(self, rows: list[dict]) -> None:
        """The account pool, as sandbox.reports.pool.pool_rows gives it over the last day:
        accounts per state now, lease wait and failed clean passes in those 24 hours."""
        for row in rows:
            provider = row["provider"]
            self.pool_size.labels(provider).set(row["size"])
            for state in POOL_GAUGE_STATES:
                self.pool_accounts.labels(provider, state).set(row[state])
            self.pool_failed_passes.labels(provider).set(row["failed_passes"])
            self.pool_leases.labels(provider).set(row["leases"])
            if row["median_lease_wait_s"] is not None:
                self.pool_lease_wait.labels(provider).set(row["median_lease_wait_s"])

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """/healthz answers 200 "ok" while `healthy()` is true, else 503; /metrics the registry."""

    def __init__(self, metrics: Metrics, healthy: Callable[[], tuple[bool, str]], port: int,
                 host: str = "0.0.0.0"):
        handler = _handler(metrics, healthy)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        log.info("metrics_listening port=%d", self.port)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(metrics: Metrics, healthy: Callable[[], tuple[bool, str]]):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, reason = healthy()
                self._reply(200 if ok else 503, f"{reason}\n".encode(), "text/plain; charset=utf-8")
            elif path == "/metrics":
                self._reply(200, metrics.render(), CONTENT_TYPE_LATEST)
            else:
                self._reply(404, b"not found; try /healthz or /metrics\n", "text/plain; charset=utf-8")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - scrapes are not news
            log.debug("http " + format, *args)

    return Handler
