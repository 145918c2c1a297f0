"""`sandbox report` follows the read commands' output rules: --output (-o) table, csv, json
(html with --out), --format kept as the same option; piped, its table is tab-separated lines."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli.test_terminal_tables import in_terminal

ADMIN = "admin@example.com"
BOX = set("┃━│─┏┓┗┛╇╈┡┩")


@pytest.fixture
def reported(sandbox_cli):
    for user in ("alice@example.com", "bob@example.com"):
        sandbox_cli.json("request", "gcp-individual", user=user)
    return sandbox_cli


@pytest.mark.parametrize("option", ["--output", "-o", "--format"])
def test_output_json_like_every_read_command(reported, option):
    result = reported("report", "usage", option, "json", user=ADMIN, check=True)

    data = json.loads(result.stdout)
    assert data["report"] == "usage" and data["totals"]["requests"] == 2


def test_output_csv(reported):
    result = reported("report", "usage", "-o", "csv", user=ADMIN, check=True)

    header, *rows = list(csv.reader(io.StringIO(result.stdout)))
    assert header[:3] == ["section", "group", "requests"] and rows


def test_a_piped_table_is_the_csv_rows_tab_separated(reported):
    as_csv = list(csv.reader(io.StringIO(reported("report", "usage", "-o", "csv", user=ADMIN, check=True).stdout)))

    piped = reported("report", "usage", user=ADMIN, check=True).stdout  # the runner's stdout is no terminal

    assert not BOX & set(piped)
    assert [line.split("\t") for line in piped.splitlines()] == as_csv


def test_a_terminal_still_gets_the_drawn_report(reported):
    _, lines = in_terminal(reported, "report", "usage", columns=120)

    assert lines[0].startswith("Sandbox usage") and BOX & set("".join(lines)) and "\t" not in "".join(lines)
