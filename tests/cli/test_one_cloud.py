"""One cloud only: a config with one cloud's table never calls the other, and missing
credentials are one line naming the cloud and what to set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.secrets import generate_key

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "sandbox.toml").write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'sandbox.db'}"
[secrets]
key = "{generate_key()}"
[identity]
email = "admin@example.com"
[admin]
users = ["admin@example.com"]
{config}""")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           # No credentials anywhere, and no metadata server to wait for.
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "True",
           "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "db", "upgrade"], cwd=tmp_path, env=env,
                   capture_output=True, check=True, timeout=60)
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("config, named, hint", [
    ("[gcp]\norganization = 'organizations/1'\n[departments.default]\ngcp_folder = 'default'\n",
     "GCP credentials not found", "GOOGLE_APPLICATION_CREDENTIALS"),
    ("[aws]\n[departments.default]\naws_ou = 'default'\n", "AWS", "set [aws] profile or the AWS_* environment"),
])
def test_bootstrap_touches_only_the_configured_cloud_and_names_missing_credentials_as_configuration(tmp_path, config, named, hint):
    done = run_cli(tmp_path, config, "admin", "bootstrap")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {named}") and hint in line and "internal error" not in line


def test_a_template_of_a_cloud_that_is_off_says_which_table_to_add(tmp_path):
    done = run_cli(tmp_path, "[aws]\n[departments.default]\naws_ou = 'default'\n", "request", "gcp-individual")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: GCP is not enabled here; add an [gcp] table to")
    listed = run_cli(tmp_path, "[aws]\n", "templates", "list")
    assert "aws-individual" in listed.stdout and "gcp" not in listed.stdout
