"""A database that does not exist yet: read commands and the daemon say how to create it,
and leave no file behind (no empty .db, no .daemon.lock); `sandbox db upgrade` creates it."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Sandbox, assert_one_line_error, write_config


@pytest.mark.parametrize("argv", [["list"], ["show", "ffffffff"], ["events", "ffffffff"], ["whoami"],
                                  ["report", "usage"], ["daemon", "--once"]])
def test_a_command_on_a_missing_database_creates_nothing(tmp_path, argv):
    data = tmp_path / "data"
    data.mkdir()
    cli = Sandbox(write_config(tmp_path / "sandbox.toml", f"sqlite:///{data / 'sandbox.db'}"))

    result = cli(*argv, user="admin@example.com")

    assert_one_line_error(result, f"the database {data / 'sandbox.db'} does not exist yet",
                          "create it with: sandbox db upgrade")
    assert result.returncode == 2
    assert list(data.iterdir()) == []


def test_db_upgrade_creates_it(tmp_path):
    path = tmp_path / "new" / "sandbox.db"
    cli = Sandbox(write_config(tmp_path / "sandbox.toml", f"sqlite:///{path}"))

    assert "(was empty)" in cli("db", "upgrade", check=True).stdout
    assert path.exists() and cli.json("list") == []
