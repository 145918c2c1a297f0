"""One domain error base; the CLI turns any SandboxError into a one-line message."""


class SandboxError(Exception):
    """Something the user can act on. The message is one line and says what to do."""

    exit_code = 1


class ConfigError(SandboxError):
    exit_code = 2


class TemplateError(SandboxError):
    exit_code = 2


class UsageError(SandboxError):
    """Bad input to a command (a TTL, an id, a flag value)."""

    exit_code = 2


class NotFoundError(SandboxError):
    pass


class AmbiguousIdError(SandboxError):
    pass


class PermissionDeniedError(SandboxError):
    exit_code = 3


class QuotaExceededError(SandboxError):
    pass


class IllegalTransitionError(SandboxError):
    pass


class ConcurrentUpdateError(SandboxError):
    """Another process moved the sandbox first; re-read and try again."""


class SchemaOutdatedError(SandboxError):
    pass


class DatabaseUnavailableError(SandboxError):
    pass


class SecretKeyError(SandboxError):
    pass


class ProviderError(SandboxError):
    """A cloud call failed. `retryable` tells the caller whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool = False, code: str = ""):
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class CloseQuotaError(ProviderError):
    """AWS refused CloseAccount because of its 10%-per-30-days quota: retry later."""

    def __init__(self, message: str):
        super().__init__(message, retryable=True, code="CLOSE_ACCOUNT_QUOTA_EXCEEDED")
