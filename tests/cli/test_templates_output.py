"""`templates show` and `templates list` speak the tool's own units: durations as one types
them (14d), money as numbers, and the list shows the limits its help promises."""

from __future__ import annotations

import re
import tomllib

from tests.cli.conftest import ROOT


def shipped(name: str) -> dict:
    return tomllib.loads((ROOT / "templates" / f"{name}.toml").read_text())


def test_show_gives_durations_as_typed_and_the_budget_as_a_number(sandbox_cli):
    source = shipped("aws-group")

    shown = sandbox_cli.json("templates", "show", "aws-group")

    assert (shown["default_ttl"], shown["max_ttl"], shown["grace_period"]) == (
        source["default_ttl"], source["max_ttl"], source.get("grace_period", "3d"))
    assert isinstance(shown["budget_usd"], float) and shown["budget_usd"] == source["budget"]["amount_usd"]


def test_list_shows_the_limits(sandbox_cli):
    rows = {row["name"]: row for row in sandbox_cli.json("templates", "list")}
    source = shipped("aws-group")

    group = rows["aws-group"]
    assert (group["default_ttl"], group["max_ttl"], group["max_extensions"], group["approval_required"]) == (
        source["default_ttl"], source["max_ttl"], source["max_extensions"], source["approval_required"])
    assert group["budget_usd"] == source["budget"]["amount_usd"]
    assert re.fullmatch(r"\d+[smhdw]", group["min_ttl"]) and group["max_live"] == source.get("max_live", 0)

    header = sandbox_cli("templates", "list", check=True).stdout.splitlines()[0].split("\t")
    assert {"default_ttl", "max_ttl", "budget_usd", "approval_required"} <= set(header)
    help_text = sandbox_cli("templates", "list", "--help", check=True).stdout
    assert "TTL" in help_text and "budget" in help_text and "approval" in help_text
