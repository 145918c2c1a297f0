"""Two fault injectors that sit on the wire, so the code under test runs unchanged.

AwsFaultProxy: an HTTP proxy in front of moto. Chosen AWS operations get an AWS error
(throttling, 500, AccessDenied, ConstraintViolation...) or a canned answer (a FAILED
CreateAccount) instead of moto's, in the protocol the service speaks (JSON 1.1 for
Organizations and Budgets, query/XML for IAM and STS), so botocore parses and retries
them exactly as it would real AWS's. Everything else is forwarded to moto.

TcpProxy: a TCP relay in front of PostgreSQL that can drop every connection and refuse
new ones ("the server restarts"), or do so when a chosen query goes by.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

# ---- AWS -----------------------------------------------------------------------------

Body = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class _Rule:
    operation: str
    count: int
    status: int = 400
    code: str = ""
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    reply: Body | None = None  # a canned success body instead of an error
    after_forward: bool = False  # moto did the work; its answer is lost on the way back


class AwsFaultProxy:
    """moto behind a proxy that fails the next `count` requests of chosen operations."""

    def __init__(self, upstream: str):
        parsed = urlsplit(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.seen: Counter[str] = Counter()  # requests per operation that reached the proxy
        self.injected: Counter[str] = Counter()  # of which answered by a rule
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                proxy._handle(self)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="aws-fault-proxy", daemon=True).start()

    # -- arranging faults -----------------------------------------------------------------

    def fail(self, operation: str, code: str, message: str = "injected", *, status: int = 400,
             count: int = 1, after_forward: bool = False, **fields: Any) -> None:
        """The next `count` `operation` requests answer `status` with AWS error `code`.

        after_forward: the request reaches moto first (the work is done), then the client
        gets the error instead of the answer: a response lost on the way back.
        """
        with self._lock:
            self._rules.append(_Rule(operation, count, status, code, message, dict(fields),
                                     after_forward=after_forward))

    def reply(self, operation: str, body: Body, *, count: int = 1) -> None:
        """The next `count` `operation` requests get `body` with 200, unforwarded; a callable
        body(request) may return None to let that request through to moto."""
        with self._lock:
            self._rules.append(_Rule(operation, count, status=200, reply=body))

    def pending(self) -> list[str]:
        with self._lock:
            return [f"{r.operation}x{r.count}" for r in self._rules]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- serving --------------------------------------------------------------------------

    def _take(self, operation: str) -> _Rule | None:
        with self._lock:
            self.seen[operation] += 1
            for rule in self._rules:
                if rule.operation == operation:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    self.injected[operation] += 1
                    return rule
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        target = handler.headers.get("X-Amz-Target", "")
        json_protocol = bool(target)
        if json_protocol:  # "AWSOrganizationsV20161128.CreateAccount"
            operation = target.rsplit(".", 1)[-1]
        else:  # query protocol (IAM, STS): Action=CreateUser&...
            operation = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        rule = self._take(operation)
        if rule is not None and rule.reply is not None:
            request = json.loads(body or b"{}") if json_protocol else {}
            answer = rule.reply(request) if callable(rule.reply) else rule.reply
            if answer is not None:
                self._send(handler, 200, "application/x-amz-json-1.1", json.dumps(answer).encode())
                return
            rule = None  # the callable let this one through to moto
        if rule is None or rule.after_forward:
            status, headers, payload = self._forward(handler, body)
            if rule is None:
                self._send(handler, status, headers.get("Content-Type", "text/xml"), payload, headers)
                return
        if json_protocol:
            error = {"__type": rule.code, "message": rule.message, **rule.fields}
            self._send(handler, rule.status, "application/x-amz-json-1.1", json.dumps(error).encode())
        else:
            kind = "Receiver" if rule.status >= 500 else "Sender"
            xml = (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
                   f"<Type>{kind}</Type><Code>{rule.code}</Code><Message>{rule.message}</Message>"
                   f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
            self._send(handler, rule.status, "text/xml", xml.encode())

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, payload: bytes,
              headers: dict | None = None) -> None:
        handler.send_response(status)
        for key, value in (headers or {}).items():
            if key.lower() not in ("content-length", "content-type", "transfer-encoding", "connection",
                                   "server", "date"):
                handler.send_header(key, value)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


# ---- PostgreSQL ----------------------------------------------------------------------

class TcpProxy:
    """127.0.0.1:<port> relayed to `upstream`; cut() is a server restart seen from the client.

    cut(refuse=True): every open connection is dropped and new ones are refused until
    restore(). cut(refuse=False): connections are dropped, new ones accepted at once (a
    restart that finished instantly, or a failover).
    cut_on(pattern): the same, the moment a client sends a message containing `pattern`:
    before they reach the server (forward=False), or after the server has answered them
    but before the answer reaches the client (forward=True: the ambiguous commit).
    """

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.cuts = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._refusing = False
        self._closed = False
        self._trigger: dict[str, Any] | None = None
        self._listening = threading.Event()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._listening.set()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.settimeout(0.02)
        return sock

    # -- control --------------------------------------------------------------------------

    def cut(self, *, refuse: bool = True) -> None:
        with self._lock:
            self.cuts += 1
            self._refusing = refuse
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _kill(sock)
        if refuse:  # wait until the accept loop has closed the port
            deadline = time.monotonic() + 5
            while self._listening.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)

    def restore(self) -> None:
        with self._lock:
            self._refusing = False
        deadline = time.monotonic() + 5
        while not self._listening.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self._listening.is_set(), "the proxy could not listen again"

    def cut_on(self, pattern: bytes, *, forward: bool = False, refuse: bool = True, nth: int = 1,
               after: bytes = b"") -> None:
        """Cut at the nth client message holding `pattern` (counted once `after` has gone by)."""
        with self._lock:
            self._trigger = {"pattern": pattern, "forward": forward, "refuse": refuse, "left": nth,
                             "after": after}

    @property
    def armed(self) -> bool:
        with self._lock:
            return self._trigger is not None

    def close(self) -> None:
        self._closed = True
        self.cut(refuse=False)
        self._thread.join(2)

    # -- relaying -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener: socket.socket | None = self._listener
        while not self._closed:
            with self._lock:
                refusing = self._refusing
            if refusing and listener is not None:
                listener.close()
                listener = None
                self._listening.clear()
            elif not refusing and listener is None:
                listener = self._listen(self.port)
                self._listening.set()
            if listener is None:
                time.sleep(0.005)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()
        if listener is not None:
            listener.close()

    def _relay(self, client: socket.socket) -> None:
        client.settimeout(None)
        try:
            server = socket.create_connection(self.upstream, timeout=5)
            server.settimeout(None)
        except OSError:
            _kill(client)
            return
        with self._lock:
            if self._refusing:
                _kill(client)
                _kill(server)
                return
            self._sockets.update((client, server))
        state = {"swallow": None}
        threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()
        self._pump(client, server, state, True)

    def _pump(self, source: socket.socket, sink: socket.socket, state: dict, upstream: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upstream:
                    fire = self._fires(data)
                    if fire is not None and not fire["forward"]:
                        self.cut(refuse=fire["refuse"])
                        break
                    if fire is not None:
                        state["swallow"] = fire
                elif state["swallow"] is not None:  # the server answered: lose the answer
                    self.cut(refuse=state["swallow"]["refuse"])
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((source, sink))
            _kill(source)
            _kill(sink)

    def _fires(self, data: bytes) -> dict | None:
        with self._lock:
            trigger = self._trigger
            if trigger is None:
                return None
            if trigger["after"]:
                if trigger["after"] in data:
                    trigger["after"] = b""
                return None
            if trigger["pattern"] not in data:
                return None
            trigger["left"] -= 1
            if trigger["left"] > 0:
                return None
            self._trigger = None
            return trigger


def _kill(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
