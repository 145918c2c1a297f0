"""Google API errors, named after the canonical status codes.

Every error renders as Google's JSON error body
``{"error": {"code": <http>, "message": ..., "status": <NAME>, "details": [...]}}``
(https://cloud.google.com/apis/design/errors#http_mapping). The numeric gRPC code
is what a finished long-running operation carries in ``error.code``; the gapic
client turns it into the matching ``google.api_core.exceptions`` class.
"""

from __future__ import annotations

from typing import Any


class GoogleError(Exception):
    """An error the emulator answers with, as Google would."""

    http_status = 500
    grpc_code = 13
    status = "INTERNAL"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if self.details:
            body["details"] = self.details
        return {"error": body}

    def to_operation_error(self) -> dict[str, Any]:
        """The google.rpc.Status form, as carried by Operation.error."""
        error: dict[str, Any] = {"code": self.grpc_code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return error


class InvalidArgument(GoogleError):
    http_status, grpc_code, status = 400, 3, "INVALID_ARGUMENT"


class FailedPrecondition(GoogleError):
    http_status, grpc_code, status = 400, 9, "FAILED_PRECONDITION"


class OutOfRange(GoogleError):
    http_status, grpc_code, status = 400, 11, "OUT_OF_RANGE"


class Unauthenticated(GoogleError):
    http_status, grpc_code, status = 401, 16, "UNAUTHENTICATED"


class PermissionDenied(GoogleError):
    http_status, grpc_code, status = 403, 7, "PERMISSION_DENIED"


class NotFound(GoogleError):
    http_status, grpc_code, status = 404, 5, "NOT_FOUND"


class AlreadyExists(GoogleError):
    http_status, grpc_code, status = 409, 6, "ALREADY_EXISTS"


class Aborted(GoogleError):
    http_status, grpc_code, status = 409, 10, "ABORTED"


class ResourceExhausted(GoogleError):
    http_status, grpc_code, status = 429, 8, "RESOURCE_EXHAUSTED"


class Cancelled(GoogleError):
    http_status, grpc_code, status = 499, 1, "CANCELLED"


class Internal(GoogleError):
    http_status, grpc_code, status = 500, 13, "INTERNAL"


class NotImplementedByEmulator(GoogleError):
    http_status, grpc_code, status = 501, 12, "UNIMPLEMENTED"


class Unavailable(GoogleError):
    http_status, grpc_code, status = 503, 14, "UNAVAILABLE"


class DeadlineExceeded(GoogleError):
    http_status, grpc_code, status = 504, 4, "DEADLINE_EXCEEDED"


ALL_ERRORS: tuple[type[GoogleError], ...] = (
    InvalidArgument, FailedPrecondition, OutOfRange, Unauthenticated,
    PermissionDenied, NotFound, AlreadyExists, Aborted, ResourceExhausted,
    Cancelled, Internal, NotImplementedByEmulator, Unavailable, DeadlineExceeded,
)
_BY_STATUS = {cls.status: cls for cls in ALL_ERRORS}
_BY_GRPC_CODE = {cls.grpc_code: cls for cls in ALL_ERRORS}
# When a fault gives only an HTTP status, pick the status Google most often
# sends with it: 409 is ABORTED (concurrent change) unless told ALREADY_EXISTS.
_DEFAULT_FOR_HTTP = {
    400: InvalidArgument, 401: Unauthenticated, 403: PermissionDenied,
    404: NotFound, 409: Aborted, 429: ResourceExhausted, 499: Cancelled,
    500: Internal, 501: NotImplementedByEmulator, 503: Unavailable,
    504: DeadlineExceeded,
}


def error_class_for(http_status: int | None = None, status: str | None = None,
                    grpc_code: int | None = None) -> type[GoogleError]:
    """Find the error class for a status name, a gRPC code or an HTTP status."""
    if status:
        if status not in _BY_STATUS:
            raise ValueError(f"unknown Google status {status!r}")
        return _BY_STATUS[status]
    if grpc_code is not None:
        if grpc_code not in _BY_GRPC_CODE:
            raise ValueError(f"unknown gRPC code {grpc_code!r}")
        return _BY_GRPC_CODE[grpc_code]
    if http_status in _DEFAULT_FOR_HTTP:
        return _DEFAULT_FOR_HTTP[http_status]
    if http_status is not None and 400 <= http_status < 500:
        return InvalidArgument
    return Internal


def bad_request(field: str, description: str, message: str | None = None) -> InvalidArgument:
    """INVALID_ARGUMENT with a google.rpc.BadRequest detail naming the field."""
    detail = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": description}],
    }
    return InvalidArgument(message or description, [detail])


def precondition_failure(kind: str, subject: str, description: str,
                         message: str = "Precondition check failed.") -> FailedPrecondition:
    """FAILED_PRECONDITION with a google.rpc.PreconditionFailure detail."""
    detail = {
        "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
        "violations": [{"type": kind, "subject": subject, "description": description}],
    }
    return FailedPrecondition(message, [detail])


def error_info(reason: str, domain: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """A google.rpc.ErrorInfo detail (the machine-readable reason of an error)."""
    info: dict[str, Any] = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": domain,
    }
    if metadata:
        info["metadata"] = metadata
    return info
