"""Shared fixtures: every database test runs on SQLite and on PostgreSQL; clouds are moto
and the GCP emulator over real HTTP.

PostgreSQL: $SANDBOX_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
Each test run creates its own database on that server and drops it afterwards. If the
server is unreachable the PostgreSQL half is skipped with a loud warning, or fails when
SANDBOX_REQUIRE_PG=1 (as .ci/run sets, since CI has PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sandbox.clock import FrozenClock
from sandbox.config import Identity, Settings
from sandbox.db import make_engine, upgrade

PG_URL = os.environ.get("SANDBOX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("SANDBOX_REQUIRE_PG") == "1"
TABLES = ("pool_account", "api_token", "event", "milestone", "cost_sample", "finding", "notification", "credential", "member", "sandbox")

ALICE = Identity(email="alice@example.com", department="engineering")
BOB = Identity(email="bob@example.com", department="engineering")
ADMIN = Identity(email="admin@example.com", department="engineering", is_admin=True)


# ---- databases -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def _pg_server_url():
    """A fresh database for this test process on the PostgreSQL server, dropped at the end."""
    base = make_url(PG_URL)
    name = f"sandbox_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        message = f"PostgreSQL unreachable at {base.render_as_string(hide_password=True)}: {exc}"
        if REQUIRE_PG:
            pytest.fail(message, pytrace=False)
        warnings.warn(f"SKIPPING EVERY POSTGRESQL TEST: {message}")
        pytest.skip(message)
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin_engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin_engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A migrated, empty database: a copied SQLite file, or the run's PostgreSQL database truncated."""
    if request.param == "sqlite":
        path = tmp_path / "sandbox.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(_pg_server_url):
    """The run's PostgreSQL database, emptied: for scenarios that exist only on PostgreSQL."""
    engine = create_engine(_pg_server_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return _pg_server_url


# ---- clouds --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def _aws_server():
    from sandbox.emulators.aws import AwsEmulator

    emulator = AwsEmulator()
    url = emulator.start()
    yield emulator, url
    emulator.stop()


@pytest.fixture
def aws_url(_aws_server):
    emulator, url = _aws_server
    emulator.reset()
    return url


@pytest.fixture(scope="session")
def _gcp_server():
    from sandbox.emulators.gcp import GcpEmulator

    emulator = GcpEmulator(polls_before_done=1)
    url = emulator.start()
    yield emulator, url
    emulator.stop()


@pytest.fixture
def gcp_emulator(_gcp_server):
    emulator, _url = _gcp_server
    emulator.reset()
    return emulator


@pytest.fixture
def gcp_url(gcp_emulator, _gcp_server):
    return _gcp_server[1]


# ---- the application -----------------------------------------------------------------

def make_settings(db_url: str, aws_url: str = "", gcp_url: str = "", **overrides) -> Settings:
    from sandbox.emulators.settings import emulator_settings

    return emulator_settings(db_url, aws_url, gcp_url, source="test-config", **overrides)


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def settings(db_url, aws_url, gcp_url):
    return make_settings(db_url, aws_url, gcp_url)


@pytest.fixture
def app(settings, clock):
    from sandbox.service import build_app

    application = build_app(settings, clock=clock)
    yield application
    application.engine.dispose()


@pytest.fixture
def bootstrapped(app):
    from sandbox.service import bootstrap

    bootstrap(app, ADMIN)
    return app
