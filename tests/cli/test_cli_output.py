"""Table output: drawn by rich in a terminal, tab-separated lines when piped."""

from sandbox.cli import SANDBOX_COLUMNS, emit
from tests.cli.test_terminal_tables import in_terminal


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

    _, lines = in_terminal(sandbox_cli, "list", columns=200, user="alice@example.com")

    header, rule = lines[:2]
    assert header.split()[:2] == ["id", "name"] and set(rule.strip()) == {"─"}
    assert any(sandbox_id in line for line in lines) and not any("\t" in line for line in lines)
