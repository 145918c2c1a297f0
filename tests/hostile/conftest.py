"""Hostile input: the command run in-process (hypothesis runs examples one after another,
so one process is safe), the database's row counts before and after, and the one check
every case must pass: success, or one line on stderr with a non-zero exit and nothing
written."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from tests.cli.conftest import Sandbox, write_config
from tests.conftest import TABLES

USERS = ("alice@example.com", "bob@example.com", "admin@example.com")


def fuzz(max_examples: int) -> settings:
    """Modest and repeatable by default (the folder must stay fast); for a deeper hunt:
    SANDBOX_FUZZ_EXAMPLES=2000 SANDBOX_FUZZ_RANDOM=1 pytest tests/hostile"""
    return settings(max_examples=int(os.environ.get("SANDBOX_FUZZ_EXAMPLES", max_examples)),
                    deadline=None, derandomize=not os.environ.get("SANDBOX_FUZZ_RANDOM"),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Runner(Sandbox):
    """The CLI helper of tests/cli, plus the database's row counts around each call."""

    def __init__(self, config: Path, db_url: str):
        super().__init__(config)
        self.engine = create_engine(db_url)

    def counts(self) -> dict[str, int]:
        query = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)
        with self.engine.connect() as conn:
            return dict(zip(TABLES, conn.execute(text(query)).one()))

    def last_event(self) -> tuple[str, str, dict] | None:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT actor, action, detail FROM event ORDER BY id DESC LIMIT 1")).first()
        return None if row is None else tuple(row)

    def attempt(self, *args: str, user: str = "alice@example.com", config: Path | None = None):
        """Run once and check the outcome: success, or a clean one-line refusal."""
        before = self.counts()
        saved, self.config = self.config, config or self.config
        try:
            result = self(*args, user=user)
        finally:
            self.config = saved
        check_outcome(result, args)
        if result.returncode != 0 and not is_help_page(result):
            after = self.counts()
            # A refusal writes exactly its own audit event (into this database unless a
            # random config points elsewhere); to a stranger the refused sandbox is "not found".
            hidden = "no sandbox with id" in result.stderr and after["event"] == before["event"] + 1
            if (result.returncode == 3 or hidden) and (config is None or after["event"] == before["event"] + 1):
                assert after["event"] == before["event"] + 1, (args, result.stderr)
                actor, action, _detail = self.last_event()
                assert (actor, action) == ((user.strip().lower() or "alice@example.com"), "denied_access")
                after["event"] = before["event"]
            assert after == before, f"a failing {args!r} wrote rows: {before} -> {after}"
        return result


def is_help_page(result) -> bool:
    """`sandbox admin` alone shows the group's help (exit 2), as click does."""
    return result.returncode == 2 and result.stderr.startswith("Usage:") and "Commands:" in result.stderr


def check_outcome(result, args=()) -> None:
    context = f"argv={list(args)!r}\nstdout={result.stdout!r}\nstderr={result.stderr!r}"
    # An exception the CLI did not turn into a message (SystemExit is the normal exit path).
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{context}\n{result.exception!r}"
    assert "Traceback" not in result.output, context
    if is_help_page(result):
        return
    if result.returncode == 0:
        check_success(result, args, context)
        return
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, context
    assert not lines[0].startswith("internal error"), context
    assert result.returncode in (1, 2, 3), context


def check_success(result, args, context: str) -> None:
    """What every success shows: no error line on stderr; a help page only when asked for
    one; output that looks like JSON is JSON; a report written to --out exists; anything
    else prints what it did."""
    assert not [line for line in result.stderr.splitlines() if line.startswith(("error", "internal error"))], context
    if result.stdout.startswith("Usage:"):
        assert {"--help", "-h"} & set(args), context
        return
    if re.fullmatch(r"\S+, version \d+\.\d+\.\d+\S*\n", result.stdout):
        assert "--version" in args, context
        return
    if result.stdout.lstrip().startswith(("{", "[")):
        json.loads(result.stdout)
    written = re.findall(r"^wrote (.+)$", result.stderr, re.M)
    for path in written:
        assert Path(path).is_file(), context
    assert written or result.stdout.strip(), f"a success that printed nothing\n{context}"


@pytest.fixture
def shared_engines(monkeypatch):
    """One engine per database URL for the whole test: each in-process command would
    otherwise open (and leak until collected) its own connection pool."""
    import sandbox.db
    import sandbox.service.app

    real = sandbox.db.make_engine
    engines: dict[str, object] = {}

    def make_engine(url: str, **kwargs):
        if kwargs:
            return real(url, **kwargs)
        if url not in engines:
            engines[url] = real(url)
        return engines[url]

    monkeypatch.setattr(sandbox.db, "make_engine", make_engine)
    monkeypatch.setattr(sandbox.service.app, "make_engine", make_engine)
    yield
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def runner(tmp_path, db_url, monkeypatch, shared_engines):
    """A configured, migrated database; the working directory is a scratch folder so a
    random --out or file name lands there."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("SANDBOX_DEBUG", "SANDBOX_DEPARTMENT", "SANDBOX_NEW_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    # A config without [database] url falls back to the user's data directory: keep it here.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    cli = Runner(write_config(tmp_path / "sandbox.toml", db_url), db_url)
    cli("db", "upgrade", check=True)
    yield cli
    cli.engine.dispose()
