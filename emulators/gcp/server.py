"""The HTTP server: Google's REST wire format on one local port.

One port serves cloudresourcemanager v3 (/v3/...), cloudbilling v1
(/v1/projects/*/billingInfo, /v1/billingAccounts), serviceusage v1
(/v1/projects/*/services, /v1/operations) and BigQuery v2's queries and jobs
(/bigquery/v2/projects/*/queries, .../jobs, over the billing-export tables),
plus the /emulator/ control plane.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

from . import bigquery, billing, resourcemanager, serviceusage
from .control import ControlError, handle_control
from .errors import GoogleError, Internal, InvalidArgument, NotFound, error_class_for
from .routing import ApiRequest, Route, encode_enums, start_operation
from .state import (DEFAULT_BILLING_ACCOUNT, DEFAULT_CALLER, DEFAULT_ORGANIZATION,
                    DEFAULT_POLLS_BEFORE_DONE, EmulatorState, Fault, Settings)

log = logging.getLogger("sandbox.emulators.gcp")

ROUTES: list[Route] = [*resourcemanager.ROUTES, *billing.ROUTES, *serviceusage.ROUTES, *bigquery.ROUTES]
CONTROL_PREFIX = "/emulator/"


def find_route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        if route.method == method:
            params = route.match(path)
            if params is not None:
                return route, params
    return None, {}


def fault_response(state: EmulatorState, fault: Fault, path: str) -> tuple[int, dict[str, Any]]:
    if fault.operation_error is not None:
        # The call "succeeds" with an operation that ends in this error.
        api = "v3" if path.startswith("/v3/") else "v1"
        return 200, start_operation(state, api, "fault", None, error=dict(fault.operation_error))
    error = error_class_for(fault.http_status, fault.status)(fault.message)
    return fault.http_status, error.to_json()


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the clients' connections alive: much faster for benchmarks.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY the body waits
    # for the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    server: "_Server"

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # one key=value line per request is logged in _dispatch instead

    def _dispatch(self) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query, keep_blank_values=True)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.server.state
        template = "/emulator"
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict) and not path.startswith(CONTROL_PREFIX):
                raise ValueError("the request body must be a JSON object")
        except ValueError as exc:
            status, doc = 400, InvalidArgument(f"Invalid JSON payload received. {exc}").to_json()
        else:
            if path.startswith(CONTROL_PREFIX):
                try:
                    status, doc = handle_control(state, self.command, path, body)
                except ControlError as exc:
                    status, doc = 400, {"error": str(exc)}
            else:
                template, status, doc = self._serve_api(state, path, query, body)
        # Google's system parameter prettyPrint (default true); google-cloud-bigquery sends
        # false, and a compact body is also what keeps large result pages cheap to encode.
        self._send(status, doc, pretty=query.get("prettyPrint", ["true"])[-1].lower() != "false")
        log.info("method=%s path=%s route=%s status=%s duration_ms=%.1f",
                 self.command, path, template, status, (time.perf_counter() - started) * 1000)

    def _serve_api(self, state: EmulatorState, path: str, query: dict[str, list[str]],
                   body: dict[str, Any]) -> tuple[str, int, Any]:
        latency = state.settings.latency_ms
        if latency:
            time.sleep(latency / 1000)  # outside the lock: concurrent requests overlap
        route, params = find_route(self.command, path)
        template = route.template if route else "<unknown>"
        request = ApiRequest(self.command, path, params, query, body)
        try:
            with state.lock:
                state.stats[f"{self.command} {template}"] += 1
                fault = state.take_fault(self.command, path)
                if fault is not None:
                    status, doc = fault_response(state, fault, path)
                elif route is None:
                    raise NotFound(f"The requested URL {path} was not found on this server "
                                   f"(method {self.command} is not emulated).")
                else:
                    status, doc = route.handler(state, request)
        except GoogleError as exc:
            status, doc = exc.http_status, exc.to_json()
        except Exception:  # a bug in the emulator: answer like Google's 500
            log.exception("emulator error on %s %s", self.command, path)
            status, doc = 500, Internal("Internal error encountered.").to_json()
        if route is not None and request.wants_int_enums and status < 400:
            doc = encode_enums(doc, route.enums)
        return template, status, doc

    def _send(self, status: int, doc: Any, pretty: bool = True) -> None:
        payload = (json.dumps(doc, indent=2) if pretty else json.dumps(doc, separators=(",", ":"))).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: EmulatorState):
        super().__init__(address, _Handler)
        self.state = state


class GcpEmulator:
    """A local Google Cloud (resource manager, billing, service usage, BigQuery) on one port.

        emu = GcpEmulator(port=0, polls_before_done=1)
        url = emu.start()          # "http://127.0.0.1:PORT", served from a thread
        ...                        # point Google clients at url
        emu.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 polls_before_done: int = DEFAULT_POLLS_BEFORE_DONE, latency_ms: int = 0,
                 organization: str = DEFAULT_ORGANIZATION,
                 billing_accounts: Iterable[str] = (DEFAULT_BILLING_ACCOUNT,),
                 caller: str = DEFAULT_CALLER, extra_services: dict[str, str] | None = None,
                 enforce_iam: bool = False):
        settings = Settings(organization=organization, billing_accounts=tuple(billing_accounts),
                            caller=caller, polls_before_done=polls_before_done, latency_ms=latency_ms,
                            enforce_iam=enforce_iam)
        settings.known_services.update(extra_services or {})
        self.host, self.port = host, port
        self.state = EmulatorState(settings)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def bind(self) -> str:
        """Open the listening socket (without serving yet); returns the URL."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self.state)
        return self.url

    def start(self) -> str:
        """Serve in a background thread; returns "http://HOST:PORT"."""
        url = self.bind()
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,  # type: ignore[union-attr]
                                            name="gcp-emulator", daemon=True)
            self._thread.start()
        return url

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() or KeyboardInterrupt."""
        self.bind()
        self._server.serve_forever()  # type: ignore[union-attr]

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join(timeout=5)
        server.server_close()

    def reset(self) -> None:
        self.state.reset()

    def inject_fault(self, path_regex: str, *, method: str = "*", status: int = 503, count: int = 1,
                     status_name: str | None = None, message: str = "Injected fault.",
                     operation_error: dict[str, Any] | None = None) -> None:
        """Python twin of POST /emulator/faults."""
        from .control import make_fault
        fault = make_fault({"path_regex": path_regex, "method": method, "status": status, "count": count,
                            "status_name": status_name, "message": message,
                            "operation_error": operation_error})
        with self.state.lock:
            self.state.faults.append(fault)

    def __enter__(self) -> "GcpEmulator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(host: str = "127.0.0.1", port: int = 8085, **options: Any) -> None:
    """Run the emulator in the foreground (for `sandbox emulator gcp --port N`)."""
    if not logging.getLogger().handlers and not log.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    emulator = GcpEmulator(host, port, **options)
    url = emulator.bind()
    print(f"GCP emulator listening on {url}", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if emulator._server is not None:
            emulator._server.server_close()
