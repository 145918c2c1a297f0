"""Access control and secrets: the CLI helpers of tests/cli, and a look at the database
from outside the product (row counts, the audit trail, raw stored text)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from tests.cli.conftest import Sandbox, assert_one_line_error, cloud_cli, sandbox_cli  # noqa: F401 - fixtures
from tests.conftest import TABLES

ALICE, BOB, CAROL, ADMIN = "alice@example.com", "bob@example.com", "carol@example.com", "admin@example.com"


class Database:
    """Read-only SQL against the test database, as an auditor would."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(url)

    def counts(self) -> dict[str, int]:
        query = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)
        with self.engine.connect() as conn:
            return dict(zip(TABLES, conn.execute(text(query)).one()))

    def last_event(self) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT sandbox_id, actor, action, detail FROM event "
                                    "ORDER BY id DESC LIMIT 1")).mappings().one()
        detail = row["detail"] if isinstance(row["detail"], dict) else json.loads(row["detail"])
        return {**row, "detail": detail}

    def execute(self, sql: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)


@pytest.fixture
def database(db_url):
    db = Database(db_url)
    yield db
    db.engine.dispose()


def assert_refused(cli: Sandbox, database: Database, args: list[str], *, user: str, attempted: str,
                   sandbox_id: str | None, hidden: bool = False):
    """Exit 3, one line; exactly one new row anywhere: the denied_access event. `hidden`:
    the caller may not even see the sandbox, so it is "not found" (exit 2), ids unprobed."""
    before = database.counts()
    result = cli(*args, user=user)
    assert_one_line_error(result, "no sandbox with id" if hidden else "only")
    assert result.returncode == (2 if hidden else 3), (args, user, result.stderr)
    after = database.counts()
    assert after == {**before, "event": before["event"] + 1}, (args, user)
    event = database.last_event()
    assert (event["actor"], event["action"], event["sandbox_id"]) == (user, "denied_access", sandbox_id), args
    assert event["detail"] == {"attempted": attempted}, args
    return result
