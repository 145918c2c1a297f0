"""Tables fit the terminal: ids, states and times keep their width, long values are
shortened with "…", --wide shows every value in full; piped output is untouched
tab-separated lines, and an empty list piped is its header line alone."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from sandbox.cli import SANDBOX_COLUMNS
from tests.cli.conftest import ROOT

LONG_OWNER = "bartholomew.fitzgerald-longname@example.com"
LONG_CLOUD_ID = "sandbox-load-test-0123456789abcdef"


def in_terminal(cli, *args: str, columns: int, user: str = "admin@example.com") -> tuple[int, list[str]]:
    """Run `sandbox ARGS` with a pseudo-terminal as stdout, COLUMNS wide; its lines as shown."""
    leader, follower = pty.openpty()
    env = {"PATH": "/usr/bin:/bin", "SANDBOX_USER": user, "HOME": str(cli.config.parent),
           "COLUMNS": str(columns), "TERM": "xterm"}
    try:
        process = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--config", str(cli.config), *args],
                                 stdout=follower, stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=120)
        os.close(follower)
        shown = b""
        while chunk := _read(leader):
            shown += chunk
    finally:
        os.close(leader)
    assert process.returncode == 0, process.stderr
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode())  # rich's bold header
    return process.returncode, [line.rstrip() for line in plain.replace("\r\n", "\n").split("\n") if line.strip()]


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the other end is closed: all was read
        return b""


@pytest.fixture
def listed(sandbox_cli, db_url):
    """Three sandboxes, one with a long owner and a long cloud id, all visible to the admin."""
    ids = [sandbox_cli.json("request", "gcp-individual", user=user)["id"]
           for user in ("alice@example.com", LONG_OWNER, "bob@example.com")]
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sandbox SET cloud_id = :c WHERE id = :i"), {"c": LONG_CLOUD_ID, "i": ids[1]})
    engine.dispose()
    return sandbox_cli, ids


@pytest.mark.parametrize("columns", [80, 120])
def test_list_fits_the_terminal_keeping_ids_states_and_times_whole(listed, columns):
    cli, ids = listed
    expires = {row["id"]: row["expires_at"] for row in cli.json("list", "--all", user="admin@example.com")}

    _, lines = in_terminal(cli, "list", "--all", columns=columns)

    header, rule, *rows = lines
    assert header.split()[0] == "id" and set(rule.strip()) == {"─"}
    assert len(rows) == len(ids), lines  # one line per sandbox: nothing wrapped
    assert all(len(line) <= columns for line in lines), lines
    for sandbox_id in ids:
        [row] = [r for r in rows if r.startswith(sandbox_id + " ")]  # the id whole, in the first column
        assert " requested " in row and expires[sandbox_id] in row, row
    long_row = next(r for r in rows if r.startswith(ids[1]))
    assert LONG_OWNER not in long_row and "…" in long_row  # shortened, not wrapped


def test_wide_shows_every_value_in_full(listed):
    cli, ids = listed

    _, lines = in_terminal(cli, "list", "--all", "--wide", columns=80)

    long_row = next(r for r in lines if r.startswith(ids[1]))
    assert LONG_OWNER in long_row and LONG_CLOUD_ID in long_row and "…" not in "".join(lines)
    assert len(lines) == 2 + len(ids)


def test_piped_output_stays_whole_tab_separated_lines(listed):
    cli, ids = listed

    lines = cli("list", "--all", user="admin@example.com", check=True).stdout.splitlines()

    assert lines[0].split("\t") == list(SANDBOX_COLUMNS)
    long_row = next(line.split("\t") for line in lines if line.startswith(ids[1]))
    assert long_row[4] == LONG_OWNER and long_row[6] == LONG_CLOUD_ID and "…" not in "".join(lines)


def test_an_empty_list_piped_is_the_header_line_alone(sandbox_cli):
    assert sandbox_cli("list", check=True).stdout == "\t".join(SANDBOX_COLUMNS) + "\n"
    assert sandbox_cli("list", "--all", check=True).stdout.splitlines() == ["\t".join(SANDBOX_COLUMNS)]


def test_an_empty_list_in_a_terminal_says_so(sandbox_cli):
    _, lines = in_terminal(sandbox_cli, "list", columns=80, user="alice@example.com")

    assert lines == ["no live sandboxes (--all shows ended ones too)"]
