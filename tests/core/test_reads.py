"""Single-statement reads (App.scalar): the caller's quota count, and what a dropped
PostgreSQL connection does to them."""

import pytest
from sqlalchemy import create_engine, text

from sandbox.errors import DatabaseUnavailableError
from sandbox.service import request_sandbox
from sandbox.service.queries import describe_caller
from tests.conftest import ALICE, BOB


def test_quota_used_counts_the_callers_live_sandboxes(db_app):
    request_sandbox(db_app, ALICE, "aws-individual")
    request_sandbox(db_app, ALICE, "aws-individual")
    request_sandbox(db_app, BOB, "aws-individual")
    assert describe_caller(db_app, ALICE)["quota"] == {"used": 2, "limit": 3}
    assert describe_caller(db_app, BOB)["quota"]["used"] == 1


def _kill_connections(db_app) -> None:
    admin = create_engine(db_app.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
                     {"db": db_app.engine.url.database})
    admin.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_dropped_connection_is_retried_once(db_app):
    request_sandbox(db_app, ALICE, "aws-individual")
    assert describe_caller(db_app, ALICE)["quota"]["used"] == 1  # the read connection now sits in its pool
    _kill_connections(db_app)
    assert describe_caller(db_app, ALICE)["quota"]["used"] == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_unreachable_database_is_one_clear_error(db_app):
    describe_caller(db_app, ALICE)
    database = db_app.engine.url.database
    admin = create_engine(db_app.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
        _kill_connections(db_app)
        with pytest.raises(DatabaseUnavailableError, match="database"):
            describe_caller(db_app, ALICE)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()
