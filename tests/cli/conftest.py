import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.secrets import generate_key

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, db_url: str, aws_url: str = "http://127.0.0.1:9", gcp_url: str = "http://127.0.0.1:9",
                 extra: str = "") -> Path:
    from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_ORGANIZATION

    path.write_text(f"""
[database]
url = {json.dumps(db_url)}
[secrets]
key = "{generate_key()}"
[identity]
email = "alice@example.com"
department = "engineering"
[admin]
users = ["admin@example.com"]
[aws]
endpoint_url = "{aws_url}"
poll_seconds = 0.01
max_attempts = 2
[gcp]
endpoint = "{gcp_url}"
organization = "{DEFAULT_ORGANIZATION}"
billing_account = "{DEFAULT_BILLING_ACCOUNT}"
poll_seconds = 0.01
max_attempts = 2
[departments.engineering]
aws_ou = "engineering"
gcp_folder = "engineering"
{extra}
""")
    return path


class Sandbox:
    """Runs the `sandbox` command: in-process through click's runner (fast), or as a real
    subprocess where the process boundary matters (imports, exit codes of the script)."""

    def __init__(self, config: Path):
        self.config = config

    def __call__(self, *args: str, user: str = "alice@example.com", stdin: str | None = None,
                 check: bool = False, subprocess_: bool = False):
        argv = ["--config", str(self.config), *args]
        if subprocess_:
            env = {"PATH": "/usr/bin:/bin", "SANDBOX_USER": user, "HOME": str(self.config.parent)}
            result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *argv], capture_output=True,
                                    text=True, env=env, input=stdin, cwd=ROOT, timeout=120)
        else:
            from click.testing import CliRunner

            from sandbox.cli import main

            result = CliRunner().invoke(main, argv, input=stdin, env={"SANDBOX_USER": user,
                                                                       "SANDBOX_CONFIG": None,
                                                                       "SANDBOX_SECRET_KEY": None})
            result.returncode = result.exit_code
        if check and result.returncode != 0:
            raise AssertionError(f"sandbox {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str, **kwargs):
        return json.loads(self(*args, "--output", "json", check=True, **kwargs).stdout)


@pytest.fixture
def sandbox_cli(tmp_path, db_url):
    return Sandbox(write_config(tmp_path / "sandbox.toml", db_url))


@pytest.fixture
def cloud_cli(tmp_path, db_url, aws_url, gcp_url):
    cli = Sandbox(write_config(tmp_path / "sandbox.toml", db_url, aws_url, gcp_url))
    cli("admin", "bootstrap", user="admin@example.com", check=True)
    return cli


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
