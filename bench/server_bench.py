"""Server throughput: is verifying a token, or listing, the bottleneck? And is the remote
CLI light?

With 10,000 sandboxes in PostgreSQL and 16 concurrent clients against one `sandbox
server` process (one uvicorn worker), it measures requests per second of
  GET /healthz                    (no auth, no database)
  GET /api/v1/me                  (a verified ID token + one count)
  GET /api/v1/sandboxes?limit=50  (a verified ID token + a keyset page over 10,000 rows)
and the CPU seconds of a remote-mode `sandbox list` against `aws --version`. Targets
(issue 10): sandboxes >= 0.5x me, me >= 0.5x healthz, remote list <= 0.5x aws --version.
Ratios are measured in one run; absolute figures move with the machine's load.

    .venv/bin/python bench/server_bench.py [--seconds 5] [--rounds 3] [--clients 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import _common as c

import httpx


def load(url: str, headers: dict, clients: int, seconds: float) -> float:
    """Requests per second that `clients` threads sustain for `seconds` (bounded in time)."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        with httpx.Client(headers=headers, timeout=30) as client:
            while time.monotonic() < stop:
                response = client.get(url)
                response.raise_for_status()
                done[n] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--sandboxes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    from oidc_provider_mock import run_server_in_thread

    from sandbox.db import make_engine

    folder = Path(tempfile.mkdtemp(prefix="server-bench-"))
    with c.postgres_database("sandbox_server_bench") as db_url, run_server_in_thread(port=0) as idp:
        issuer = f"http://localhost:{idp.server_port}"
        settings = c.bench_settings(db_url)
        engine = make_engine(db_url)
        rng = random.Random(7)
        with c.Stopwatch() as seeding:
            c.seed_sandboxes(engine, settings, c.history_seeds(args.sandboxes, datetime.now(timezone.utc), rng))
        engine.dispose()

        port = c.free_port()
        config = folder / "server.toml"
        config.write_text(c.settings_toml({
            "database": {"url": db_url}, "secrets": {"key": settings.secrets.key},
            "server": {"port": port, "provision_on_request": False},
            "auth": {"issuer": issuer, "client_id": "bench", "admin_groups": ["admins"]},
            "quotas": {"max_live_per_user": 0}}))
        server = subprocess.Popen([str(c.VENV_BIN / "sandbox"), "--config", str(config), "server"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url)
            sys.path.insert(0, str(c.ROOT))
            from tests.oidc import OidcProvider

            token = OidcProvider(issuer).id_token("admin", "admin@example.com", groups=["admins"], client_id="bench")
            auth = {"Authorization": f"Bearer {token}"}
            page = "/api/v1/sandboxes?scope=visible&include_ended=true&limit=50"
            assert len(httpx.get(url + page, headers=auth).json()["items"]) == 50
            routes = {"healthz": (f"{url}/healthz", {}), "me": (f"{url}/api/v1/me", auth),
                      "sandboxes": (url + page, auth)}
            for target, headers in routes.values():  # warm: pools filled, statements prepared
                load(target, headers, args.clients, 1)
            # Rounds interleave the routes, so a change in the machine's load shifts all three
            # alike; each route's figure is its median over the rounds.
            runs: dict[str, list[float]] = {name: [] for name in routes}
            for _ in range(args.rounds):
                for name, (target, headers) in routes.items():
                    runs[name].append(load(target, headers, args.clients, args.seconds))
            rates = {name: c.median(values) for name, values in runs.items()}
            api_token = httpx.post(f"{url}/api/v1/tokens", json={"name": "bench"}, headers=auth).json()["token"]
            env = {"PATH": os.environ["PATH"], "HOME": str(folder), "SANDBOX_SERVER": url, "SANDBOX_TOKEN": api_token}
            remote = [c.run_quiet([sys.executable, str(c.ROOT / "cli.py"), "list"], env=env, cwd=folder)[1]
                      for _ in range(5)]
            from cli_latency import find_aws_cli  # the real entry point, not a pyenv shim

            aws = find_aws_cli()
            aws_cpu = [c.run_quiet([*aws, "--version"], cwd=folder)[1] for _ in range(5)]
        finally:
            server.terminate()
            server.wait(10)

    rows = [["GET /healthz", f"{rates['healthz']:.0f}", "-"],
            ["GET /api/v1/me", f"{rates['me']:.0f}", f"{c.ratio(rates['me'], rates['healthz']):.2f}x healthz"],
            ["GET /api/v1/sandboxes (50 of 10,000)", f"{rates['sandboxes']:.0f}",
             f"{c.ratio(rates['sandboxes'], rates['me']):.2f}x me"]]
    c.print_table(f"server, {args.clients} clients, median of {args.rounds} rounds of {args.seconds:.0f} s, one worker "
                  f"(seeded {args.sandboxes} in {seeding.seconds:.1f} s)", ["route", "req/s", "ratio"], rows)
    cpu_row = [["remote `sandbox list`", f"{c.median(remote):.3f}",
                f"{c.median(remote) / c.median(aws_cpu):.2f}x aws --version"],
               ["aws --version", f"{c.median(aws_cpu):.3f}", "-"]]
    c.print_table("CPU seconds per process (median of 5)", ["command", "cpu s", "ratio"], cpu_row)
    c.write_json(args.json, {"machine": c.machine(), "rates": rates, "runs": runs, "remote_list_cpu": remote, "aws_cpu": aws_cpu})
    return 0


if __name__ == "__main__":
    sys.exit(main())
