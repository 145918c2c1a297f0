"""Engine, sessions and migrations.

SQLite transactions start with BEGIN IMMEDIATE so writers queue instead of failing
half-way (and a quota check plus insert is atomic). PostgreSQL runs at READ COMMITTED
and guards with row versions, advisory locks and FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError, ProgrammingError
from sqlmodel import Session

from sandbox.errors import ConfigError, DatabaseUnavailableError, SchemaNewerError, SchemaOutdatedError

MIGRATIONS_DIR = Path(str(resources.files("sandbox.migrations")))  # package data, as BUILTIN_TEMPLATES
# The newest migration; a test checks it matches Alembic's head, so every command can
# compare without loading Alembic.
SCHEMA_REVISION = "0007"


def make_engine(url: str, **kwargs) -> Engine:
    """A bad URL is a one-line ConfigError that never repeats the URL's password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("[database] url is not a database URL; use sqlite:///PATH or "
                          "postgresql+psycopg://USER@HOST/DATABASE") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database or ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
            _make_sqlite_transactional(engine)
            return engine
        engine = create_engine(url, **{"pool_pre_ping": True, **kwargs})
        if engine.dialect.name == "postgresql":
            _bound_lock_waits(engine)
        return engine
    except (NoSuchModuleError, ImportError):
        raise ConfigError(f"[database] url {shown}: this database is not supported; "
                          "use SQLite or PostgreSQL (postgresql+psycopg://...)") from None
    except (OSError, ValueError) as exc:  # a folder that cannot be made, a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"[database] url {shown}: cannot use it: {reason}") from None


# Lock waits stay bounded on PostgreSQL: a stuck peer yields an error, not a hang.
LOCK_TIMEOUT = "30s"


def _bound_lock_waits(engine: Engine) -> None:
    """SET lock_timeout once per connection. A SET LOCAL at the start of every transaction
    cost a round trip each time: a third of the statements of a daemon pass
    (bench/sweep_cost.py). Behind PgBouncer in transaction mode, where a session SET does
    not stick, set it on the role instead: ALTER ROLE ... SET lock_timeout = '30s'."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            # Timestamps then arrive in datetime.timezone.utc, which UTCDateTime and the views
            # pass through as they are, instead of a server-zone ZoneInfo to convert.
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()  # psycopg opened a transaction; rolled back, the SET would be undone


def _make_sqlite_transactional(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if _is_connection_error(exc):
            raise DatabaseUnavailableError(_unreachable(engine, exc)) from None
        return None


def check_schema(engine: Engine) -> None:
    missing = _missing_sqlite_file(engine)
    if missing is not None:  # checked before connecting, which would create the file
        raise SchemaOutdatedError(f"the database {missing} does not exist yet; create it with: sandbox db upgrade")
    revision = current_revision(engine)
    if revision != SCHEMA_REVISION:
        _refuse_newer(revision)
        state = "has no schema" if revision is None else f"is at revision {revision}"
        raise SchemaOutdatedError(
            f"the database {state}, this version needs {SCHEMA_REVISION}; run: sandbox db upgrade"
        )


def known_revisions() -> set[str]:
    """Every revision this version's migrations know (read from the files, not Alembic)."""
    found = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        match = re.search(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", path.read_text(encoding="utf-8"), re.M)
        if match:
            found.add(match.group(1))
    return found


def _refuse_newer(revision: str | None) -> None:
    """A revision no migration here knows was written by a newer version of sandbox-cloud:
    `db upgrade` cannot help (Alembic would fail to locate it); a newer tool can."""
    if revision is not None and revision not in known_revisions():
        raise SchemaNewerError(
            f"the database was migrated by a newer version of sandbox-cloud (schema revision {revision}; "
            f"this version knows up to {SCHEMA_REVISION}); upgrade sandbox-cloud to use it")


def _missing_sqlite_file(engine: Engine) -> str | None:
    """The path of a SQLite database file that does not exist yet, else None."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return None
    return None if Path(url.database).exists() else url.database


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; returns (before, after)."""
    from alembic import command
    from alembic.config import Config

    before = current_revision(engine)
    _refuse_newer(before)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, current_revision(engine)


def _is_connection_error(exc: Exception) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, InterfaceError) or any(
        s in message for s in ("connection refused", "could not connect", "server closed",
                               "connection failed", "unable to open database", "terminating connection")
    )


def _unreachable(engine: Engine, exc: Exception) -> str:
    url = engine.url.render_as_string(hide_password=True)
    first_line = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    return f"cannot reach the database at {url} ({first_line}); check [database] url"
