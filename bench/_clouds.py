"""The emulated clouds for the benchmarks, each in its own process.

    python bench/_clouds.py moto                # moto; prints its URL
    python bench/_clouds.py proxy UPSTREAM_URL  # the counting / latency proxy; prints its URL
    python bench/_clouds.py gcp                 # the GCP emulator, request log off; prints its URL

Why separate processes: the daemon under test must not share its GIL (nor its RSS) with
moto or the emulator, or the benchmark measures the emulators instead of the daemon.

AWS: moto has no request counter and no latency knob, so a small threaded HTTP proxy sits
in front of it, in a process of its own: it stands for the network, and sharing moto's
GIL it would slow the cloud down under concurrency. Every request other than /moto-api/
is counted (by X-Amz-Target or Action) and, when asked, delayed before it is forwarded.
The proxy's own endpoints:
    GET    /_bench/stats      {"requests": N, "by_action": {...}}
    DELETE /_bench/stats      zero the counts
    POST   /_bench/config     {"latency_ms": N} and/or {"create_account_seconds": S}
With create_account_seconds set (0, the default: off), an Organizations CreateAccount
takes that long, as in AWS (where it is minutes, not moto's instant): the proxy notes
each CreateAccount request id it forwards and, while the id is younger than S seconds,
rewrites the answer to DescribeCreateAccountStatus to State IN_PROGRESS (no AccountId).
GCP: the emulator has these natively (GET /emulator/stats, POST /emulator/config).

Parent side: `CloudProcess.start("aws")` (moto and its proxy) or `CloudProcess.start("gcp")`
runs one and gives its URL, counts, knobs and the cloud's CPU time.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_TEMPLATE_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMReadOnlyAccess")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade",
              "trailer", "content-length"}


# ---- the proxy (runs in the cloud process) -------------------------------------------

class _ProxyState:
    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname, parts.port
        self.latency_ms = 0
        self.create_account_seconds = 0.0  # 0: CreateAccount as moto does it (done at once)
        self.create_requests: dict[str, float] = {}  # CreateAccount request id -> when answered
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.local = threading.local()

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.local.conn = conn
        return conn


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: "_ProxyServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/_bench/"):
            return self._control(state, body)
        action = ""
        if not self.path.startswith("/moto-api/"):
            action = _action(self.headers, body)
            with state.lock:
                state.counts[action] += 1
            if state.latency_ms:
                time.sleep(state.latency_ms / 1000)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for attempt in range(2):
            conn = state.connection(fresh=attempt > 0)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                if attempt:
                    raise
        if state.create_account_seconds and response.status == 200:
            payload = _slow_create_account(state, action, body, payload)
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() not in ("server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _control(self, state: _ProxyState, body: bytes) -> None:
        if self.command == "POST" and self.path == "/_bench/config":
            config = json.loads(body or b"{}")
            if "latency_ms" in config or "create_account_seconds" not in config:
                state.latency_ms = int(config.get("latency_ms", 0))
            if "create_account_seconds" in config:
                state.create_account_seconds = float(config["create_account_seconds"] or 0)
        elif self.command == "DELETE" and self.path == "/_bench/stats":
            with state.lock:
                state.counts.clear()
        with state.lock:
            doc = {"requests": sum(state.counts.values()), "by_action": dict(state.counts),
                   "latency_ms": state.latency_ms, "create_account_seconds": state.create_account_seconds}
        payload = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _slow_create_account(state: _ProxyState, action: str, body: bytes, payload: bytes) -> bytes:
    """The create_account_seconds knob: note CreateAccount request ids; answer
    DescribeCreateAccountStatus IN_PROGRESS while the request is younger than the knob."""
    if action.endswith(".CreateAccount"):
        try:
            request_id = json.loads(payload)["CreateAccountStatus"]["Id"]
        except (ValueError, KeyError, TypeError):
            return payload
        with state.lock:
            state.create_requests[request_id] = time.monotonic()
    elif action.endswith(".DescribeCreateAccountStatus"):
        try:
            request_id = json.loads(body or b"{}")["CreateAccountRequestId"]
            doc = json.loads(payload)
            status = doc["CreateAccountStatus"]
        except (ValueError, KeyError, TypeError):
            return payload
        with state.lock:
            since = state.create_requests.get(request_id)
        if since is not None and time.monotonic() - since < state.create_account_seconds:
            for key in ("AccountId", "CompletedTimestamp", "FailureReason"):
                status.pop(key, None)
            status["State"] = "IN_PROGRESS"
            return json.dumps(doc).encode()
    return payload


def _action(headers: Any, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target
    try:
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    except ValueError:
        pass
    return "other"


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: _ProxyState):
        super().__init__(address, _ProxyHandler)
        self.state = state


def _serve(kind: str, port: int, upstream: str = "") -> None:
    import logging

    logging.disable(logging.CRITICAL)  # a log line per request would cost more than the request
    sys.path.insert(0, str(ROOT))
    if kind == "moto":
        from sandbox.emulators.aws import AwsEmulator

        # Only what templates/aws-*.toml attach: moto parses each AWS-managed policy for
        # every new account, and the default list's ReadOnlyAccess (98 KB of JSON) took
        # about a quarter of moto's time, in its one GIL, which a real cloud does not have.
        print(AwsEmulator(managed_policies=SHIPPED_TEMPLATE_POLICIES).start(), flush=True)
        threading.Event().wait()
    elif kind == "proxy":
        server = _ProxyServer(("127.0.0.1", port), _ProxyState(upstream))
        print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()
    else:
        from sandbox.emulators.gcp import GcpEmulator

        emulator = GcpEmulator("127.0.0.1", port, polls_before_done=1)
        print(emulator.bind(), flush=True)
        emulator.serve_forever()


# ---- the parent side --------------------------------------------------------------------

class CloudProcess:
    """One emulated cloud in a child process (AWS: plus its proxy's), with its request
    count and latency knob."""

    def __init__(self, kind: str, process: subprocess.Popen, url: str, proxy: subprocess.Popen | None = None):
        self.kind, self.process, self.url, self.proxy = kind, process, url, proxy

    @classmethod
    def start(cls, kind: str) -> "CloudProcess":
        process, url = _child("moto" if kind == "aws" else kind)
        if kind != "aws":
            return cls(kind, process, url)
        try:
            proxy, proxy_url = _child("proxy", url)
        except RuntimeError:
            _stop(process)
            raise
        return cls(kind, process, proxy_url, proxy)

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def requests(self) -> int:
        """API requests received since the last reset_counts()."""
        if self.kind == "aws":
            return self._call("GET", "/_bench/stats")["requests"]
        return self._call("GET", "/emulator/stats")["total"]

    def by_action(self) -> dict[str, int]:
        if self.kind == "aws":
            return self._call("GET", "/_bench/stats")["by_action"]
        return self._call("GET", "/emulator/stats")["requests"]

    def reset_counts(self) -> None:
        self._call("DELETE", "/_bench/stats" if self.kind == "aws" else "/emulator/stats")

    def set_latency(self, latency_ms: int) -> None:
        self._call("POST", "/_bench/config" if self.kind == "aws" else "/emulator/config",
                   {"latency_ms": latency_ms})

    def set_create_account_seconds(self, seconds: float) -> None:
        """AWS only: CreateAccount takes `seconds` to turn SUCCEEDED (0: at once, moto's way)."""
        if self.kind != "aws":
            raise ValueError("create_account_seconds is a knob of the AWS proxy")
        self._call("POST", "/_bench/config", {"create_account_seconds": seconds})

    def reset(self) -> None:
        """Every account / project gone (the latency setting survives on AWS only)."""
        self._call("POST", "/moto-api/reset" if self.kind == "aws" else "/emulator/reset")
        self.reset_counts()

    def cpu_seconds(self) -> float:
        """User + system CPU the cloud (moto, not its proxy) has used so far (from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        for process in (self.proxy, self.process):
            if process is not None:
                _stop(process)

    def __enter__(self) -> "CloudProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _child(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        _stop(process)
        raise RuntimeError(f"bench/_clouds.py {args[0]} did not start")
    return process, url


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    _serve(sys.argv[1], int(os.environ.get("BENCH_CLOUD_PORT", "0")), *sys.argv[2:3])
