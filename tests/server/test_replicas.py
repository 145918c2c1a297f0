"""Two server processes on one PostgreSQL serve the same data: nothing that matters lives
in a process (no session store, no cache another replica would miss)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.daemon.conftest import free_port
from tests.server.conftest import server_settings

ROOT = Path(__file__).resolve().parents[2]


def write_toml(path: Path, settings, port: int) -> Path:
    import json

    auth = settings.auth
    lines = [
        "[database]", f"url = {json.dumps(settings.database.url)}",
        "[secrets]", f"key = {json.dumps(settings.secrets.key)}",
        "[server]", f"port = {port}",
        "[auth]", f"issuer = {json.dumps(auth.issuer)}", f"client_id = {json.dumps(auth.client_id)}",
        f"allowed_domains = {json.dumps(auth.allowed_domains)}",
        "[aws]", f"endpoint_url = {json.dumps(settings.clouds['aws'].endpoint_url)}",
        "[gcp]", f"endpoint = {json.dumps(settings.clouds['gcp'].endpoint)}",
        f"organization = {json.dumps(settings.clouds['gcp'].organization)}",
        f"billing_account = {json.dumps(settings.clouds['gcp'].billing_account)}",
        "[departments.engineering]", 'aws_ou = "engineering"', 'gcp_folder = "engineering"', 'groups = ["eng"]',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_server_processes_on_one_postgresql_serve_the_same_data(db_url, aws_url, gcp_url, oidc_provider,
                                                                     tmp_path):
    settings = server_settings(db_url, aws_url, gcp_url, oidc_provider.issuer,
                               server={"provision_on_request": False})
    urls, processes = [], []
    try:
        for n in range(2):
            port = free_port()
            config = write_toml(tmp_path / f"server{n}.toml", settings, port)
            processes.append(subprocess.Popen(
                [sys.executable, str(ROOT / "cli.py"), "--config", str(config), "server"], cwd=tmp_path,
                env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "a server did not become ready"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {oidc_provider.id_token('alice', 'alice@example.com', groups=['eng'])}"}
        created = httpx.post(f"{urls[0]}/api/v1/sandboxes", json={"template": "gcp-individual"}, headers=headers)
        assert created.status_code == 201, created.text
        seen = httpx.get(f"{urls[1]}/api/v1/sandboxes/{created.json()['id']}", headers=headers)
        assert seen.status_code == 200 and seen.json()["owner"] == "alice@example.com"
        token = httpx.post(f"{urls[1]}/api/v1/tokens", json={"name": "ci"}, headers=headers).json()["token"]
        listed = httpx.get(f"{urls[0]}/api/v1/sandboxes", headers={"Authorization": f"Bearer {token}"})
        assert [s["id"] for s in listed.json()["items"]] == [created.json()["id"]]
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
