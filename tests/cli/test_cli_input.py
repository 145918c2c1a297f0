"""Bad input from the command line: one line, non-zero exit, nothing written."""

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from tests.cli.conftest import ROOT, assert_one_line_error, write_config, Sandbox


def count(db_url, table):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    engine.dispose()
    return n


def test_help_loads_no_cloud_sdk_or_database_library():
    code = ("import sys, cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3','botocore','google','googleapiclient','sqlalchemy','sqlmodel'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout


@pytest.mark.parametrize("args, fragments", [
    (["request", "nope"], ["no template named 'nope'", "sandbox templates list"]),
    (["request", "aws-individual", "--ttl", "99d"], ["longer than template aws-individual allows"]),
    (["request", "aws-individual", "--ttl", "soon"], ["not a duration"]),
    (["request", "aws-individual", "--member", "bob@example.com"], ["for one person"]),
    (["request", "aws-group", "--member", "not-an-email"], ["not an e-mail address"]),
    (["show", "ffffffff"], ["no sandbox with id"]),
    (["list", "--state", "sleeping"], ["not a state"]),
    (["admin", "approve", "ffffffff"], ["no sandbox with id"]),
])
def test_bad_input_is_one_line(sandbox_cli, db_url, args, fragments):
    sandbox_cli("db", "upgrade", check=True)
    result = sandbox_cli(*args)
    assert_one_line_error(result, *fragments)
    assert count(db_url, "sandbox") == 0


def test_wrong_flag_is_click_usage_error(sandbox_cli):
    result = sandbox_cli("list", "--colour", subprocess_=True)
    assert result.returncode == 2 and "No such option" in result.stderr and "Traceback" not in result.stderr


def test_schema_behind_says_run_upgrade(tmp_path):
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    cli = Sandbox(write_config(tmp_path / "c.toml", db))
    assert_one_line_error(cli("list"), "sandbox db upgrade")
    assert "revision" in cli("db", "upgrade").stdout
    assert cli("list").returncode == 0


def test_malformed_config_names_key(tmp_path):
    path = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'x.db'}", extra="[daemon]\nlease = 5\n")
    assert_one_line_error(Sandbox(path)("list"), str(path), "daemon.lease must be str")


def test_unreachable_database_is_one_line(tmp_path):
    cli = Sandbox(write_config(tmp_path / "c.toml", "postgresql+psycopg://nobody@127.0.0.1:9/none"))
    assert_one_line_error(cli("list", subprocess_=True), "cannot reach the database")


def test_destroy_without_yes_on_non_terminal_changes_nothing(sandbox_cli, db_url):
    sandbox_cli("db", "upgrade", check=True)
    created = sandbox_cli.json("request", "gcp-individual")
    result = sandbox_cli("destroy", created["id"])
    assert_one_line_error(result, "--yes")
    assert sandbox_cli.json("show", created["id"])["state"] == "requested"


def test_missing_secret_key_refuses_aws_request(tmp_path):
    path = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path / 'x.db'}")
    path.write_text("\n".join(l for l in path.read_text().splitlines() if not l.startswith("key =")))
    cli = Sandbox(path)
    cli("db", "upgrade", check=True)
    assert_one_line_error(cli("request", "aws-individual"), "no encryption key")
    assert cli.json("list") == []


def test_templates_commands(sandbox_cli, tmp_path):
    names = {t["name"] for t in sandbox_cli.json("templates", "list")}
    assert {"aws-individual", "aws-group", "gcp-individual", "gcp-group"} <= names
    assert sandbox_cli.json("templates", "show", "aws-group")["approval_required"] is True
    bad = tmp_path / "bad.toml"
    bad.write_text('provider = "aws"\nkind = "crowd"\n')
    assert_one_line_error(sandbox_cli("templates", "validate", str(bad)), str(bad), "field kind")
    assert "ok:" in sandbox_cli("templates", "validate").stdout
