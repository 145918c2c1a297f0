"""boto3 clients for the provider, and AWS errors turned into one-line ProviderErrors."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    ParamValidationError,
)

from sandbox.providers.aws.settings import AwsSettings
from sandbox.errors import MissingCredentialsError, ProviderError

log = logging.getLogger("sandbox.aws")

# What trying again later can fix. botocore's "standard" retry mode already retried these
# max_attempts times with backoff before we see them; the caller decides when to try again.
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
    "RequestThrottled", "RequestThrottledException", "SlowDown", "PriorRequestNotComplete",
    "RequestTimeout", "RequestTimeoutException",
    "ConcurrentModificationException",  # Organizations: another change to the same resource
    "ServiceException", "ServiceUnavailable", "ServiceUnavailableException",
    "InternalFailure", "InternalError", "InternalServerError",
})

# A next step for errors whose fix is known, appended to the message.
HINTS = {
    "AWSOrganizationsNotInUseException": "run: sandbox admin bootstrap",
    "OrganizationalUnitNotFoundException": "run: sandbox admin bootstrap",
    "AccessDeniedException": "check the credentials ([aws] profile) may manage the organization",
    "ExpiredTokenException": "refresh the AWS credentials ([aws] profile)",
    "NoCredentialsError": "set [aws] profile or the AWS_* environment variables",
}

# Tags (Organizations and IAM alike): keys 1-128, values 0-256 characters of letters,
# digits, spaces and _ . : / = + - @
# (https://docs.aws.amazon.com/organizations/latest/APIReference/API_Tag.html,
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html). A literal space, not
# \s: a newline or tab from a template is not a "space" to AWS.
_NOT_TAG_CHAR = re.compile(r"[^\w .:/=+\-@]")


def tag_text(text: str, limit: int = 256) -> str:
    """`text` with every character AWS refuses in a tag replaced by "_", cut to `limit`."""
    return _NOT_TAG_CHAR.sub("_", str(text))[:limit]


# Member-account IAM clients kept: enough for the accounts the daemon's workers are on.
MEMBER_CLIENTS_KEPT = 32

# client_factory(service_name, credentials=None) -> boto3 client. `credentials` is the
# STS Credentials dict of an assumed role (AccessKeyId, SecretAccessKey, SessionToken).
# A client for a region other than settings.region is asked for with region=... as well.
ClientFactory = Callable[..., Any]

# Service Quotas holds the Organizations quotas in us-east-1 only (Organizations is a global
# service hosted there: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
SERVICE_QUOTAS_REGION = "us-east-1"


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") or ""
    return type(exc).__name__


def is_code(exc: BaseException, *codes: str) -> bool:
    return error_code(exc) in codes


def translate(exc: BaseException, operation: str, subject: str) -> ProviderError:
    """One line naming the operation and what it acted on; never a request body."""
    code = error_code(exc)
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        retryable = code in RETRYABLE_CODES or status >= 500 or status == 429
        operation = getattr(exc, "operation_name", "") or operation
    else:
        message = str(exc)
        if isinstance(exc, ParamValidationError):  # its text quotes parameter values
            message = re.sub(r"value: .*?(, type:|, valid|$)", r"value: <hidden>\1", message,
                             flags=re.M)
        retryable = isinstance(exc, (BotoConnectionError, HTTPClientError))
    message = " ".join(message.split())
    if code in HINTS:
        message = f"{message.rstrip('.')}; {HINTS[code]}"
    error = MissingCredentialsError if code == "NoCredentialsError" else ProviderError
    return error(f"AWS {operation} for {subject} failed: {code}: {message}", retryable=retryable, code=code)


@contextmanager
def aws_errors(operation: str, subject: str) -> Iterator[None]:
    """Turn any ClientError / BotoCoreError in the block into a ProviderError."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        error = translate(exc, operation, subject)
        log.warning("event=aws_error operation=%s subject=%s code=%s retryable=%s",
                    operation, subject, error.code, error.retryable)
        raise error from exc


class RedactBodies(logging.Filter):
    """botocore logs every request's parameters and every response body at DEBUG: an IAM
    password (CreateLoginProfile), a new access key's secret (CreateAccessKey), assumed-role
    keys (AssumeRole). Keep those records, for the operation and the timing, without the bodies,
    so DEBUG logging is safe to turn on."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.name == "botocore.endpoint" and message.startswith("Making request"):
            operation = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "Making request for %s (parameters not logged)", (operation,)
        elif record.name == "botocore.parsers" and message.startswith("Response body"):
            record.msg, record.args = "Response body not logged", ()
        return True


def redact_botocore_logs() -> None:
    """Idempotent: installs RedactBodies on the two botocore loggers that log bodies."""
    for name in ("botocore.endpoint", "botocore.parsers"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactBodies) for f in logger.filters):
            logger.addFilter(RedactBodies())


class AwsClients:
    """Management-account clients (cached) and member-account IAM via an assumed role."""

    def __init__(self, settings: AwsSettings, client_factory: ClientFactory | None = None):
        redact_botocore_logs()
        self.settings = settings
        self._factory = client_factory or self._boto3_client
        self._clients: dict[str, Any] = {}
        # account -> (creds, iam), most recently used last. Bounded: every cached client keeps
        # thousands of objects alive, so an unbounded cache made a long-running daemon grow
        # with every account it ever touched.
        self._members: OrderedDict[str, tuple[dict[str, Any], Any]] = OrderedDict()
        self._lock = threading.RLock()  # boto3 sessions are not thread-safe; clients are
        self._session: boto3.Session | None = None
        self._static_keys: dict[str, str] | None = None
        self._management_account: str | None = None

    def get(self, service: str, region: str | None = None) -> Any:
        """The management account's client for `service`, in settings.region unless `region`."""
        other = region is not None and region != self.settings.region
        key = f"{service}@{region}" if other else service
        with self._lock:
            if key not in self._clients:
                with aws_errors(f"{service} client setup", self._where(region if other else None)):
                    self._clients[key] = (self._factory(service, region=region) if other
                                          else self._factory(service))
            return self._clients[key]

    def service_quotas(self) -> Any:
        """Service Quotas in us-east-1, where the Organizations quotas live."""
        return self.get("service-quotas", region=SERVICE_QUOTAS_REGION)

    def management_account(self) -> str:
        if self._management_account is None:
            with aws_errors("GetCallerIdentity", "the management account"):
                self._management_account = self.get("sts").get_caller_identity()["Account"]
        return self._management_account

    def member_iam(self, account_id: str) -> Any:
        """IAM in a member account, through settings.access_role (credentials cached ~1 h)."""
        with self._lock:
            cached = self._members.get(account_id)
            if cached is not None and not _expires_soon(cached[0]):
                self._members.move_to_end(account_id)
                return cached[1]
        role_arn = f"arn:aws:iam::{account_id}:role/{self.settings.access_role}"
        with aws_errors("AssumeRole", f"account {account_id}"):
            credentials = self.get("sts").assume_role(
                RoleArn=role_arn, RoleSessionName="sandbox-cloud")["Credentials"]
        with self._lock, aws_errors("iam client setup", f"account {account_id}"):
            client = self._factory("iam", credentials=credentials)
            self._members[account_id] = (credentials, client)
            self._members.move_to_end(account_id)
            while len(self._members) > MEMBER_CLIENTS_KEPT:
                self._members.popitem(last=False)
        return client

    def _where(self, region: str | None = None) -> str:
        settings = self.settings
        return (f"profile {settings.profile or 'default'}, region {region or settings.region}"
                + (f", endpoint {settings.endpoint_url}" if settings.endpoint_url else ""))

    # -- the default factory ---------------------------------------------------------

    def _boto3_client(self, service: str, credentials: dict[str, Any] | None = None,
                      region: str | None = None) -> Any:
        settings = self.settings
        if self._session is None:
            self._session = boto3.Session(profile_name=settings.profile or None,
                                          region_name=settings.region)
            if settings.endpoint_url and self._session.get_credentials() is None:
                # A local endpoint (moto) accepts any keys; spare developers an AWS setup.
                self._static_keys = {"aws_access_key_id": "testing",
                                     "aws_secret_access_key": "testing"}
        kwargs: dict[str, Any] = {
            "config": Config(retries={"max_attempts": settings.max_attempts, "mode": "standard"}),
        }
        if region is not None:
            kwargs["region_name"] = region
        if settings.endpoint_url:
            kwargs["endpoint_url"] = settings.endpoint_url
        if credentials is not None:
            kwargs.update(aws_access_key_id=credentials["AccessKeyId"],
                          aws_secret_access_key=credentials["SecretAccessKey"],
                          aws_session_token=credentials["SessionToken"])
        elif self._static_keys:
            kwargs.update(self._static_keys)
        return self._session.client(service, **kwargs)


def _expires_soon(credentials: dict[str, Any]) -> bool:
    expiration = credentials.get("Expiration")
    if expiration is None or not hasattr(expiration, "timestamp"):
        return False
    return expiration.timestamp() - time.time() < 300
