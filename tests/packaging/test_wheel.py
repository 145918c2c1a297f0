"""The built wheel, installed into a fresh virtualenv outside the checkout, does the AWS
demo flow on an AWS-only config: templates and migrations come from package data, and
site-packages gains the `sandbox` package only."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from sandbox.secrets import generate_key
from tests.daemon.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{argv}: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the tracked files: setuptools leaves build/ in the source tree,
    and a stale build/lib would otherwise end up in the next wheel."""
    source, dist = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, source])
    (built,) = dist.glob("sandbox_cloud-*.whl")
    return built


def test_the_wheel_holds_one_package_and_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"sandbox", wheel.name.split("-py3")[0] + ".dist-info"}
    for data in ("sandbox/builtin_templates/aws-individual.toml", "sandbox/migrations/env.py",
                 "sandbox/migrations/script.py.mako", "sandbox/migrations/versions/0002_server_mode.py",
                 "sandbox/providers/aws/provider.py", "sandbox/emulators/gcp/server.py"):
        assert data in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "sandbox = sandbox.cli:main" in entry_points and "aws = sandbox.providers.aws:CLOUD" in entry_points


def test_a_fresh_virtualenv_runs_the_aws_flow_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[emulators]"])
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = str(tmp_path)

    def sandbox(*args):
        return run([venv / "bin" / "sandbox", *args], cwd=work, env=env)

    located = run([venv / "bin" / "python", "-c", "import sandbox; print(sandbox.__file__)"], cwd=work, env=env)
    assert located.stdout.startswith(str(venv))
    assert {t["name"] for t in json.loads(sandbox("templates", "list", "-o", "json").stdout)} == {
        "aws-individual", "aws-group", "gcp-individual", "gcp-group"}

    port = free_port()
    emulator = subprocess.Popen([venv / "bin" / "sandbox", "emulator", "aws", "--port", str(port)], cwd=work,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        (work / "sandbox.toml").write_text(f"""
[database]
url = "sqlite:///{work / 'sandbox.db'}"
[secrets]
key = "{generate_key()}"
[identity]
email = "admin@example.com"
[admin]
users = ["admin@example.com"]
[aws]
endpoint_url = "http://127.0.0.1:{port}"
poll_seconds = 0.05
[departments.default]
aws_ou = "default"
""")
        sandbox("db", "upgrade")
        bootstrap = sandbox("admin", "bootstrap")
        assert "/sandbox/active/default" in bootstrap.stdout and "gcp" not in bootstrap.stdout.lower()
        assert [t["name"] for t in json.loads(sandbox("templates", "list", "-o", "json").stdout)] == [
            "aws-group", "aws-individual"]  # GCP is off: no [gcp] table
        view = json.loads(sandbox("request", "aws-individual", "--wait", "-o", "json").stdout)
        assert view["state"] == "active" and len(view["cloud_id"]) == 12
        access = json.loads(sandbox("credentials", view["id"], "-o", "json").stdout)
        assert access["account_id"] == view["cloud_id"] and access["password"]
        assert json.loads(sandbox("destroy", view["id"], "--yes", "-o", "json").stdout)["state"] == "deleted"
    finally:
        emulator.terminate()
        emulator.wait(10)
