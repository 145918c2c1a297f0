"""`sandbox server`: the HTTP API behind OpenID Connect sign-in.

The server is the trust boundary: it alone holds the cloud credentials, the database,
the secrets key and the policy. Callers are identified only by a verified token (an ID
token or JWT access token from the configured issuer, a personal API token, or the
browser's signed session cookie). Routes call the service layer and nothing else.
"""

from sandbox.server.app import create_app

__all__ = ["create_app"]
