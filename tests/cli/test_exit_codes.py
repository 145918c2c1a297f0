"""One exit-code rule for every command (sandbox.errors; README "Using it"; `sandbox --help`):
1 refused or failed, 2 bad input or configuration, 3 permission. Each failure is one line
on stderr, "error: ...", with nothing on stdout and no traceback."""

from __future__ import annotations

import sqlite3

import click
import pytest
from sqlalchemy import create_engine, text

from sandbox.cli import main
from tests.cli.conftest import Sandbox, assert_one_line_error, write_config

ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "admin@example.com"

# (command, argv, user, exit code, a fragment of the one line). {pending}: a requested
# gcp-individual sandbox of alice's; {prefix}: an id prefix that two sandboxes share.
CASES = [
    # 2: bad input
    ("request", ["request", "aws-individul"], ALICE, 2, "did you mean 'aws-individual'?"),
    ("request", ["request", "nope"], ALICE, 2, "no template named 'nope'"),
    ("request", ["request", "gcp-individual", "--ttl", "soon"], ALICE, 2, "not a duration"),
    ("list", ["list", "--state", "frozn"], ALICE, 2, "not a state"),
    ("show", ["show", "ffffffff"], ALICE, 2, "no sandbox with id 'ffffffff'"),
    ("show", ["show", "{prefix}"], ADMIN, 2, "matches several sandboxes"),
    ("show", ["show", "{pending}"], "mallory@example.com", 2, "no sandbox with id"),  # not theirs to see
    ("events", ["events", "zzz"], ALICE, 2, "no sandbox with id 'zzz'"),
    ("credentials", ["credentials", "ffffffff"], ALICE, 2, "no sandbox with id"),
    ("extend", ["extend", "ffffffff", "--by", "1d"], ALICE, 2, "no sandbox with id"),
    ("extend", ["extend", "{pending}", "--by", "soon"], ALICE, 2, "not a duration"),
    ("destroy", ["destroy", "ffffffff", "--yes"], ALICE, 2, "no sandbox with id"),
    ("admin approve", ["admin", "approve", "ffffffff"], ADMIN, 2, "no sandbox with id"),
    ("admin deny", ["admin", "deny", "ffffffff"], ADMIN, 2, "no sandbox with id"),
    ("admin retry", ["admin", "retry", "ffffffff"], ADMIN, 2, "no sandbox with id"),
    ("admin budget", ["admin", "budget", "ffffffff", "--to", "100"], ADMIN, 2, "no sandbox with id"),
    ("admin bootstrap", ["admin", "bootstrap", "--provider", "nope"], ADMIN, 2, "unknown cloud 'nope'"),
    ("admin generate-key", ["admin", "generate-key", "extra"], ADMIN, 2, "unexpected extra argument"),
    ("admin rotate-key", ["admin", "rotate-key", "--new-key-file", "/nonexistent"], ADMIN, 2,
     "cannot read the new key file"),
    ("admin pool list", ["admin", "pool", "list", "--output", "xml"], ADMIN, 2, "'xml' is not one of"),
    ("admin pool status", ["admin", "pool", "status", "--output", "xml"], ADMIN, 2, "'xml' is not one of"),
    ("admin pool clean", ["admin", "pool", "clean", "123456789012", "--dry-run"], ADMIN, 2, "no pool account"),
    ("admin pool register", ["admin", "pool", "register", "123456789012"], ADMIN, 2, "has no account pool here"),
    ("admin pool quarantine", ["admin", "pool", "quarantine", "123456789012"], ADMIN, 2, "no pool account"),
    ("admin pool release", ["admin", "pool", "release", "123456789012"], ADMIN, 2, "no pool account"),
    ("admin pool retire", ["admin", "pool", "retire", "123456789012"], ADMIN, 2, "no pool account"),
    ("templates list", ["templates", "list", "--output", "xml"], ALICE, 2, "'xml' is not one of"),
    ("templates show", ["templates", "show", "nope"], ALICE, 2, "no template named 'nope'"),
    ("templates show", ["templates", "show", "gcp-indvidual"], ALICE, 2, "did you mean 'gcp-individual'?"),
    ("templates validate", ["templates", "validate", "/nonexistent.toml"], ALICE, 2, "cannot read"),
    ("db upgrade", ["db", "upgrade", "--to", "9"], ADMIN, 2, "No such option"),
    ("emulator", ["emulator", "nope"], ALICE, 2, "unknown cloud 'nope'"),
    ("daemon", ["daemon", "--once", "--job", "expire"], ADMIN, 2, "unknown job 'expire'"),
    ("report", ["report", "usge"], ADMIN, 2, "unknown report 'usge'"),
    ("report", ["report", "audit", "--sandbox", "zzz"], ADMIN, 2, "no sandbox with id 'zzz'"),
    ("report", ["report", "usage", "--output", "xml"], ADMIN, 2, "'xml' is not one of"),
    ("login", ["login"], ALICE, 2, "no server to sign in to"),
    ("logout", ["logout"], ALICE, 2, "no server to sign in to"),
    ("whoami", ["whoami"], "not an e-mail", 2, "is not an e-mail address"),
    ("token create", ["token", "create", "ci", "--expires-in", "soon"], ALICE, 2, "not a duration"),
    ("token list", ["token", "list", "--output", "xml"], ALICE, 2, "'xml' is not one of"),
    ("token revoke", ["token", "revoke", "nope"], ALICE, 2, "no token 'nope'"),
    ("server", ["server"], ADMIN, 2, "[auth] issuer and client_id are needed"),
    ("init", ["init", "--yes", "--email", "nope", "--path", "new.toml"], ALICE, 2, "not an e-mail address"),
    ("init", ["init", "--email", "not an e-mail", "--yes"], ALICE, 2, "is not an e-mail address"),
    # 1: refused by the state of things
    ("request", ["request", "gcp-individual"], ALICE, 1, "already have 3 live sandboxes"),
    ("admin approve", ["admin", "approve", "{pending}"], ADMIN, 1, "{pending}"),
    ("admin retry", ["admin", "retry", "{pending}"], ADMIN, 1, "only failed ones can be retried"),
    ("init", ["init", "--email", ALICE, "--yes"], ALICE, 1, "never overwrites a config"),  # --config's file
    # 3: not allowed
    ("daemon", ["daemon", "--once"], ALICE, 3, "for admins"),
    ("report", ["report", "usage"], ALICE, 3, "only managers and admins"),
    ("admin bootstrap", ["admin", "bootstrap"], ALICE, 3, "only admins"),
    ("admin pool list", ["admin", "pool", "list"], ALICE, 3, "only admins"),
    ("token list", ["token", "list", "--owner", BOB], ALICE, 3, "only admins"),
]


def leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> set[str]:
    found = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= leaf_commands(command, path + (name,))
        else:
            found.add(" ".join(path + (name,)))
    return found


def test_every_command_has_a_row_in_the_exit_code_table():
    missing = leaf_commands(main) - {case[0] for case in CASES}
    assert not missing, f"add a bad-input row for {sorted(missing)} to CASES in {__file__}"


@pytest.fixture
def world(tmp_path, db_url):
    """Alice at her quota (3 live sandboxes), and sandboxes of others until two ids share a
    first character (16 hex digits: 17 sandboxes at most)."""
    cli = Sandbox(write_config(tmp_path / "sandbox.toml", db_url))
    ids = [cli.json("request", "gcp-individual", user=ALICE)["id"] for _ in range(3)]
    n = 0
    while len({i[0] for i in ids}) == len(ids):
        ids.append(cli.json("request", "gcp-individual", user=f"user{n // 3}@example.com")["id"])
        n += 1
    prefix = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    return cli, {"pending": ids[0], "prefix": prefix}


@pytest.mark.parametrize("command, argv, user, code, fragment", CASES, ids=[
    f"{c[0]}:{' '.join(c[1][len(c[0].split()):]) or '-'}:{c[3]}" for c in CASES])
def test_each_command_exits_by_the_rule(world, tmp_path, monkeypatch, command, argv, user, code, fragment):
    cli, names = world
    monkeypatch.chdir(tmp_path)

    result = cli(*(arg.format(**names) for arg in argv), user=user)

    assert_one_line_error(result, fragment.format(**names))
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: ") and result.stdout == ""


def config_problems(tmp_path, db_url):
    no_key = write_config(tmp_path / "no-key.toml", db_url)
    no_key.write_text("\n".join(line for line in no_key.read_text().splitlines() if not line.startswith("key =")))
    empty_file = tmp_path / "empty.db"
    sqlite3.connect(empty_file).close()  # a database with no schema
    return {
        "no database file": (write_config(tmp_path / "a.toml", f"sqlite:///{tmp_path / 'none.db'}"), ["list"],
                             "does not exist yet; create it with: sandbox db upgrade"),
        "schema not upgraded": (write_config(tmp_path / "b.toml", f"sqlite:///{empty_file}"), ["list"],
                                "has no schema, this version needs"),
        "unreachable database": (write_config(tmp_path / "c.toml", "postgresql+psycopg://nobody@127.0.0.1:9/none"),
                                 ["list"], "cannot reach the database"),
        "no secrets key": (no_key, ["request", "aws-individual"], "no encryption key"),
    }


@pytest.mark.parametrize("problem", ["no database file", "schema not upgraded", "unreachable database",
                                     "no secrets key"])
def test_configuration_problems_exit_2(tmp_path, db_url, problem):
    config, argv, fragment = config_problems(tmp_path, db_url)[problem]

    result = Sandbox(config)(*argv)

    assert_one_line_error(result, fragment)
    assert result.returncode == 2 and result.stdout == ""


def test_the_help_states_the_rule():
    from click.testing import CliRunner

    shown = CliRunner().invoke(main, ["--help"]).output
    assert "Exit codes" in shown
    for line in ("1   refused or failed", "2   bad input or configuration", "3   not allowed"):
        assert line in shown


# ---- a database newer than the code -------------------------------------------------------

@pytest.fixture
def newer_database(db_url):
    """The test's database stamped with a revision no migration of this version knows."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        before = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    yield db_url
    with engine.begin() as conn:  # the PostgreSQL database is the whole run's
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": before})
    engine.dispose()


@pytest.mark.parametrize("argv", [["list"], ["show", "ffffffff"], ["report", "usage"], ["db", "upgrade"]])
def test_a_database_migrated_by_a_newer_version_says_to_upgrade_the_tool(tmp_path, newer_database, argv):
    cli = Sandbox(write_config(tmp_path / "sandbox.toml", newer_database))

    result = cli(*argv, user=ADMIN)

    assert_one_line_error(result, "the database was migrated by a newer version of sandbox-cloud",
                          "revision 0999", "upgrade sandbox-cloud")
    assert "db upgrade" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode == 2 and result.stdout == ""


def test_a_server_that_does_not_answer_is_configuration_too(tmp_path):
    from click.testing import CliRunner

    config = write_config(tmp_path / "remote.toml", f"sqlite:///{tmp_path / 'unused.db'}",
                          extra='[server]\nurl = "http://127.0.0.1:9"\n')

    result = CliRunner().invoke(main, ["--config", str(config), "list"],
                                env={"SANDBOX_TOKEN": "sbx_x", "SANDBOX_SERVER": None, "SANDBOX_CONFIG": None})

    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: cannot reach the server at http://127.0.0.1:9")
