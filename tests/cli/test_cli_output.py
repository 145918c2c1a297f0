"""Table output: drawn by rich in a terminal, tab-separated lines when piped."""

import os
import pty
import re
import subprocess
import sys

from sandbox.cli import SANDBOX_COLUMNS, emit
from tests.cli.conftest import ROOT


def test_piped_list_is_tab_separated_lines_under_a_header(sandbox_cli):
    ids = [sandbox_cli.json("request", "gcp-individual")["id"] for _ in range(2)]

    lines = sandbox_cli("list", check=True).stdout.splitlines()

    assert lines[0].split("\t") == list(SANDBOX_COLUMNS)
    rows = [line.split("\t") for line in lines[1:]]
    assert sorted(row[0] for row in rows) == sorted(ids)
    assert all(len(row) == len(SANDBOX_COLUMNS) and row[5] == "requested" for row in rows)


def test_a_tab_or_newline_inside_a_value_is_escaped_so_each_line_keeps_its_fields(capsys):
    emit([{"id": "a1", "name": "x\ty\nz"}, {"id": "b2", "name": None}], "table", ("id", "name"))
    emit({"reason": "tab\there"}, "table")

    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t") for line in lines] == [
        ["id", "name"], ["a1", "x\\ty z"], ["b2", "-"], ["reason", "tab\\there"]]


def test_a_terminal_gets_a_drawn_table(sandbox_cli):
    sandbox_id = sandbox_cli.json("request", "gcp-individual")["id"]
    leader, follower = pty.openpty()
    env = {"PATH": "/usr/bin:/bin", "SANDBOX_USER": "alice@example.com", "HOME": str(sandbox_cli.config.parent),
           "COLUMNS": "200", "TERM": "xterm"}
    try:
        process = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--config", str(sandbox_cli.config), "list"],
                                 stdout=follower, stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=120)
        os.close(follower)
        shown = b""
        while chunk := _read(leader):
            shown += chunk
    finally:
        os.close(leader)

    text = re.sub(r"\x1b\[[0-9;]*m", "", shown.decode())  # rich's bold header
    assert process.returncode == 0, process.stderr
    assert "┃ id" in text and sandbox_id in text and "\t" not in text


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end is closed: all was read
        return b""
