"""One domain error base; the CLI turns any SandboxError into a one-line message.

The exit code says what kind of thing went wrong, the same in local and remote mode
(the API's problem documents carry it) and documented in `sandbox --help`:

- 1 refused or failed: the command was right, the state of things stopped it (a quota, the
  sandbox's state, another writer first, a cloud error); later or after a change it may work.
- 2 bad input or configuration: fix the command line or the config (an unknown template,
  id or option value, an ambiguous id prefix, a database that is missing, not upgraded,
  newer than this version or unreachable, a server that does not answer, a missing or
  wrong secrets key).
- 3 permission: not allowed, or not signed in.
"""

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_PERMISSION = 3


class SandboxError(Exception):
    """Something the user can act on. The message is one line and says what to do."""

    exit_code = EXIT_REFUSED


class ConfigError(SandboxError):
    exit_code = EXIT_BAD_INPUT


class TemplateError(SandboxError):
    exit_code = EXIT_BAD_INPUT


class UsageError(SandboxError):
    """Bad input to a command (a TTL, an id, a flag value)."""

    exit_code = EXIT_BAD_INPUT


class NotFoundError(SandboxError):
    """No such template, sandbox or token (or not one the caller may see): a wrong name."""

    exit_code = EXIT_BAD_INPUT


class AmbiguousIdError(SandboxError):
    exit_code = EXIT_BAD_INPUT


class PermissionDeniedError(SandboxError):
    exit_code = EXIT_PERMISSION


class QuotaExceededError(SandboxError):
    pass


class IllegalTransitionError(SandboxError):
    pass


class ProvisionCancelledError(IllegalTransitionError):
    """The sandbox was cancelled (destroyed) while a worker was provisioning it: the worker
    stops before its next step and hands over to the teardown."""


class ConcurrentUpdateError(SandboxError):
    """Another process moved the sandbox first; re-read and try again."""


class SchemaOutdatedError(SandboxError):
    """The database's schema is not the one this version needs (missing or behind)."""

    exit_code = EXIT_BAD_INPUT


class SchemaNewerError(SchemaOutdatedError):
    """The database was migrated by a newer version: the tool, not the database, needs upgrading."""


class DatabaseUnavailableError(SandboxError):
    """[database] url names a database that does not answer."""

    exit_code = EXIT_BAD_INPUT


class SecretKeyError(SandboxError):
    """No secrets key, an unreadable one or the wrong one: [secrets] / SANDBOX_SECRET_KEY."""

    exit_code = EXIT_BAD_INPUT


class ProviderError(SandboxError):
    """A cloud call failed. `retryable` tells the caller whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool = False, code: str = ""):
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class MissingCredentialsError(ProviderError):
    """No cloud credentials where the config says to find them: configuration, not a refusal."""

    exit_code = EXIT_BAD_INPUT


class CloseQuotaError(ProviderError):
    """AWS refused CloseAccount because of its 10%-per-30-days quota: retry later."""

    def __init__(self, message: str):
        super().__init__(message, retryable=True, code="CLOSE_ACCOUNT_QUOTA_EXCEEDED")
