"""Google clients, built lazily, and the one way every call is made: logged, retried
with backoff, and any Google error turned into a one-line ProviderError.

Why our own retry loop instead of each library's: the gapic Retry is bounded by time,
not attempts, and discovery's `execute(num_retries=...)` sleeps `random() * 2**n`
seconds with no way to shorten it. One loop gives both libraries the same policy:
at most `settings.max_attempts` tries, truncated exponential backoff with full jitter.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from typing import Any, Callable, TypeVar

from sandbox.providers.gcp.settings import GcpSettings
from sandbox.errors import ConfigError, MissingCredentialsError, ProviderError

log = logging.getLogger("sandbox.gcp")
T = TypeVar("T")

RETRYABLE = frozenset({
    "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED",
    "BAD_GATEWAY", "CONNECTION_ERROR",
})
_HTTP_STATUS: dict[int | None, str] = {  # None: an error without an HTTP status
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "BAD_GATEWAY", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_GRPC_STATUS = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
    13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class GoogleCalls:
    """Lazily built clients plus `call`, the retrying, error-translating wrapper."""

    def __init__(self, settings: GcpSettings):
        self.settings = settings
        # Retry backoff starts at a quarter of the LRO poll interval (0.5 s by default)
        # and is capped at 8 polls; tests shrink both by setting poll_seconds.
        self.backoff_seconds = max(settings.poll_seconds / 4, 0.001)
        self.backoff_max_seconds = max(settings.poll_seconds * 8, 0.01)
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._projects: Any = None
        self._folders: Any = None
        # httplib2, under the discovery client, is not thread-safe: one client per thread.
        self._local = threading.local()

    # ---- clients -------------------------------------------------------------------
    def credentials(self) -> Any:
        with self._lock:
            if self._credentials is None:
                if self.settings.endpoint:
                    from google.auth.credentials import AnonymousCredentials

                    self._credentials = AnonymousCredentials()
                else:
                    import google.auth
                    from google.auth.exceptions import DefaultCredentialsError

                    try:
                        self._credentials, _ = google.auth.default(scopes=SCOPES)
                    except DefaultCredentialsError:
                        raise MissingCredentialsError(
                            "GCP credentials not found; set GOOGLE_APPLICATION_CREDENTIALS to a service "
                            "account key file or run: gcloud auth application-default login "
                            "(or set [gcp] endpoint to use the emulator)", code="NoCredentials") from None
            return self._credentials

    def endpoint(self) -> str:
        """settings.endpoint without a trailing slash; "" for Google's own endpoints."""
        endpoint = self.settings.endpoint.strip().rstrip("/")
        if endpoint and not endpoint.startswith(("http://", "https://")):
            # Both Google libraries fail obscurely on an endpoint without a scheme.
            raise ConfigError(f"gcp.endpoint {endpoint!r} must start with http:// or https://")
        return endpoint

    def _gapic_options(self) -> Any:
        from google.api_core.client_options import ClientOptions

        endpoint = self.endpoint()
        return ClientOptions(api_endpoint=endpoint) if endpoint else None

    @property
    def projects(self) -> Any:
        if self._projects is None:
            from google.cloud import resourcemanager_v3

            client = resourcemanager_v3.ProjectsClient(
                credentials=self.credentials(), transport="rest",
                client_options=self._gapic_options())
            with self._lock:
                self._projects = self._projects or client
        return self._projects

    @property
    def folders(self) -> Any:
        if self._folders is None:
            from google.cloud import resourcemanager_v3

            client = resourcemanager_v3.FoldersClient(
                credentials=self.credentials(), transport="rest",
                client_options=self._gapic_options())
            with self._lock:
                self._folders = self._folders or client
        return self._folders

    def discovery(self, api: str) -> Any:
        """cloudbilling or serviceusage v1, one instance per thread."""
        cache = self._local.__dict__.setdefault("clients", {})
        if api not in cache:
            from googleapiclient import discovery

            endpoint = self.endpoint()
            options = {"api_endpoint": endpoint + "/"} if endpoint else None
            cache[api] = discovery.build(
                api, "v1", credentials=self.credentials(), static_discovery=True,
                client_options=options, cache_discovery=False)
        return cache[api]

    def polling(self) -> Any:
        """How a gapic long-running operation is polled: every poll_seconds (jittered),
        up to poll_timeout_seconds. The library default (1 s growing to 20 s) would
        add most of a second to every call against the emulator."""
        from google.api_core import retry as retries
        from google.api_core.future import polling

        return retries.Retry(
            predicate=polling.POLLING_PREDICATE, initial=self.settings.poll_seconds,
            maximum=self.settings.poll_seconds, multiplier=1.0,
            timeout=self.settings.poll_timeout_seconds)

    # ---- calls ---------------------------------------------------------------------
    def call(self, what: str, target: str, fn: Callable[[], T]) -> T:
        """Run `fn` (one API call, or a read-modify-write) with bounded retries.

        `what` names the call ("projects.create"), `target` the project or folder.
        Retryable failures are retried up to settings.max_attempts in total; the last
        failure, or any other, is raised as a one-line ProviderError.
        """
        attempts = max(self.settings.max_attempts, 1)
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                result = fn()
            except ProviderError:
                raise
            except Exception as exc:  # noqa: BLE001 - translated below, or re-raised
                error = translate(exc, what, target)
                if error is None:
                    raise
                log.warning("call=%s target=%s attempt=%d/%d code=%s retryable=%s",
                            what, target, attempt, attempts, error.code, error.retryable)
                if not error.retryable or error.code == "POLL_TIMEOUT" or attempt == attempts:
                    raise error from None
                time.sleep(self._backoff(attempt))
                continue
            log.info("call=%s target=%s attempt=%d ms=%d", what, target, attempt,
                     (time.monotonic() - started) * 1000)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_seconds * 2 ** (attempt - 1), self.backoff_max_seconds)
        return random.uniform(ceiling / 2, ceiling)

    def poll_retry(self) -> Any:
        """How one failed poll (an idempotent GET) is retried in place, rather than by
        `call` re-sending the create / move / delete: same backoff as `call`, bounded
        by the time max_attempts backoffs take."""
        import requests
        from google.api_core import exceptions as core
        from google.api_core import retry as retries

        return retries.Retry(
            predicate=retries.if_exception_type(
                core.TooManyRequests, core.InternalServerError, core.BadGateway,
                core.ServiceUnavailable, core.GatewayTimeout, requests.ConnectionError),
            initial=self.backoff_seconds, maximum=self.backoff_max_seconds, multiplier=2.0,
            timeout=self.backoff_max_seconds * max(self.settings.max_attempts, 1))

    def wait(self, operation: Any, what: str, target: str) -> Any:
        """The result of a gapic long-running operation, polled per `polling()`."""
        try:
            return operation.result(polling=self.polling(), retry=self.poll_retry())
        except TimeoutError:  # concurrent.futures.TimeoutError: the poll deadline passed
            raise _poll_timeout(what, target) from None

    def wait_serviceusage(self, operation: dict[str, Any], what: str, target: str) -> dict:
        """Poll a serviceusage long-running operation until done (the discovery client
        has no operation future of its own)."""
        deadline = time.monotonic() + self.settings.poll_timeout_seconds
        ops = self.discovery("serviceusage").operations()
        while not operation.get("done"):
            if time.monotonic() > deadline:
                raise _poll_timeout(what, target)
            time.sleep(random.uniform(0, self.settings.poll_seconds))
            name = operation["name"]
            operation = self.call(f"{what} (poll)", target,
                                  lambda: ops.get(name=name).execute(num_retries=0))
        if operation.get("error"):
            raise operation_error(operation["error"], what, target)
        return operation.get("response", {})


def _poll_timeout(what: str, target: str) -> ProviderError:
    # Retryable for the caller (the operation may still finish), never retried here:
    # we already waited poll_timeout_seconds.
    return ProviderError(f"GCP {what} for {target} failed: the operation was not done "
                         "within gcp.poll_timeout_seconds; retry later",
                         retryable=True, code="POLL_TIMEOUT")


def operation_error(status: dict[str, Any], what: str, target: str) -> ProviderError:
    code = _GRPC_STATUS.get(status.get("code", 2), "UNKNOWN")
    return _provider_error(what, target, code, None, status.get("message", ""))


def translate(exc: BaseException, what: str, target: str) -> ProviderError | None:
    """A Google or transport exception as a one-line ProviderError; None if `exc` is
    not a cloud error (a bug of ours, which must surface as itself)."""
    import requests
    from google.api_core import exceptions as core
    from google.api_core.future.polling import _OperationNotComplete
    from google.auth import exceptions as auth
    from googleapiclient.errors import HttpError

    if isinstance(exc, core.RetryError):
        if exc.cause is None or isinstance(exc.cause, _OperationNotComplete):
            return _poll_timeout(what, target)
        exc = exc.cause  # a poll retried in place until its deadline: report the last error
    if isinstance(exc, core.GoogleAPICallError):
        http = exc.code if isinstance(exc.code, int) else None
        status = None
        if exc.grpc_status_code is not None:
            status = exc.grpc_status_code.name
        message = exc.message
        payload = _json_error(exc.response) if exc.response is not None else None
        if payload:
            status = payload.get("status") or status
            message = payload.get("message", message)
        return _provider_error(what, target, status or _HTTP_STATUS.get(http, "UNKNOWN"),
                               http, message)
    if isinstance(exc, HttpError):
        http = exc.resp.status
        payload = _json_error(exc.content)
        status = (payload or {}).get("status") or _HTTP_STATUS.get(http, "UNKNOWN")
        message = (payload or {}).get("message") or exc.reason or ""
        return _provider_error(what, target, status, http, message)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, auth.TransportError,
                        ConnectionError, TimeoutError)) or _is_httplib2_error(exc):
        return ProviderError(f"GCP {what} for {target} failed: cannot reach Google "
                             f"({type(exc).__name__}: {_one_line(str(exc))})",
                             retryable=True, code="CONNECTION_ERROR")
    return None


def _is_httplib2_error(exc: BaseException) -> bool:
    import httplib2

    return isinstance(exc, httplib2.HttpLib2Error)


def _json_error(body: Any) -> dict[str, Any] | None:
    try:
        if hasattr(body, "json"):
            data = body.json()
        else:
            data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, TypeError, AttributeError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else None


def _provider_error(what: str, target: str, status: str, http: int | None,
                    message: str) -> ProviderError:
    prefix = f"{http} {status}" if http else status
    return ProviderError(f"GCP {what} for {target} failed: {prefix}: {_one_line(message)}",
                         retryable=status in RETRYABLE, code=status)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]
