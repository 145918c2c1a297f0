from tests.oidc import oidc_provider  # noqa: F401  (the session-wide real OpenID provider)
