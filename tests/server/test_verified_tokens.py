"""Verified ID tokens are remembered per process (bench/server_bench.py), never past their expiry."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from sandbox.config import AuthSettings
from sandbox.server.oidc import OidcVerifier, TokenRejected
from tests.oidc import CLIENT_ID, OidcProvider


@pytest.fixture
def short_lived_provider():
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=0, access_token_max_age=timedelta(seconds=2)) as server:
        yield OidcProvider(f"http://localhost:{server.server_port}")


def test_a_remembered_token_is_refused_once_it_expires(short_lived_provider):
    token = short_lived_provider.id_token("alice", "alice@example.com")
    verifier = OidcVerifier(AuthSettings(issuer=short_lived_provider.issuer, client_id=CLIENT_ID, leeway_seconds=0))
    claims = verifier.verify(token)
    assert claims["email"] == "alice@example.com"
    assert verifier.verify(token) is claims  # the second check is the remembered one

    time.sleep(max(0.0, claims["exp"] - time.time()) + 1.1)
    with pytest.raises(TokenRejected, match="expired"):
        verifier.verify(token)
