"""`sandbox admin pool ...` over a real config, database and moto: the commands hold no
logic, so these check the wiring, the output and who may run them."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.cli.conftest import Sandbox, assert_one_line_error, write_config

POOL = """
[aws.pool]
min_ready = 1
max_size = 2
regions = ["us-east-1"]
cleanup_passes = 1
"""
ADMIN = "admin@example.com"


@pytest.fixture
def pool_cli(tmp_path, db_url, aws_url, gcp_url):
    engine = create_engine(db_url)
    with engine.begin() as conn:  # tests/conftest.py truncates only the older tables
        conn.execute(text("DELETE FROM pool_account"))
    engine.dispose()
    cli = Sandbox(write_config(tmp_path / "sandbox.toml", db_url, aws_url, gcp_url, extra=POOL))
    cli("admin", "bootstrap", user=ADMIN, check=True)
    return cli


def test_the_daemon_fills_the_pool_and_admins_list_dry_run_clean_and_retire(pool_cli):
    pool_cli("daemon", "--once", "--job", "pool", user=ADMIN, check=True)

    [account] = pool_cli.json("admin", "pool", "list", user=ADMIN)
    assert account["state"] == "ready" and account["provider"] == "aws"
    status = pool_cli.json("admin", "pool", "status", user=ADMIN)
    assert status["counts"]["ready"] == 1
    table = pool_cli("admin", "pool", "list", user=ADMIN, check=True).stdout
    assert account["cloud_id"] in table and "ready" in table

    plan = pool_cli.json("admin", "pool", "clean", account["cloud_id"], "--dry-run", user=ADMIN)
    assert plan["dry_run"]["deleted"] == [] and plan["dry_run"]["clean"] is True

    refused = pool_cli("admin", "pool", "clean", account["cloud_id"], user=ADMIN)
    assert_one_line_error(refused, "is ready; only cleaning ones are cleaned")
    retired = pool_cli.json("admin", "pool", "retire", account["cloud_id"], user=ADMIN)
    assert retired["state"] == "retired" and retired["account_status"] == "SUSPENDED"


def test_pool_commands_are_for_admins(pool_cli):
    result = pool_cli("admin", "pool", "list")
    assert result.returncode == 3
    assert_one_line_error(result, "only admins may list the account pool")
