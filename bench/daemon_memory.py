"""Benchmark 4, daemon memory: peak RSS of `sandbox daemon --once` sweeping 10,000 live sandboxes.

    .venv/bin/python bench/daemon_memory.py [--sizes 1000,10000] [--quick] [--json FILE]

A PostgreSQL database (sandbox_bench_*) holds N active sandboxes (half AWS, half GCP),
each 2 days from expiry, inside the 3-day warning window. The daemon runs as its own
process, `sandbox --config FILE daemon --once --job expiry --job budgets`, against moto
and the GCP emulator (their own processes, so their memory is not counted):
  expiry   warns all N (a milestone, an event and an outbox notice each);
  budgets  reads the spend of all N in one Cost Explorer query (AWS; GCP has no cost
           source, so N/2 "unknown spend" findings) and applies it sandbox by sandbox.
Peak RSS is the child's ru_maxrss from wait4. References measured the same way in the
same run: `python -c "import sandbox.daemon"` and the same daemon command over an empty
database. What the daemon holds per sandbox shows as the growth from the smaller size to
the larger one; the sweeps lease 50 sandboxes at a time, so it should stay small.
--quick: sizes 200,2000.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402
from _clouds import CloudProcess  # noqa: E402

JOBS = ("expiry", "budgets")


def peak_rss(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(peak RSS in MiB, wall seconds, stdout) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
                               cwd=c.ROOT)
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.stdout.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}: {out[-500:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started, out  # ru_maxrss is in KiB on Linux


def write_config(path: Path, url: str, aws: CloudProcess, gcp: CloudProcess) -> None:
    from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_ORGANIZATION
    from sandbox.secrets import generate_key

    path.write_text(c.settings_toml({
        "database": {"url": url},
        "secrets": {"key": generate_key()},
        "aws": {"endpoint_url": aws.url, "poll_seconds": 0.01, "max_attempts": 2},
        "gcp": {"endpoint": gcp.url, "organization": DEFAULT_ORGANIZATION,
                "billing_account": DEFAULT_BILLING_ACCOUNT, "poll_seconds": 0.01, "max_attempts": 2},
        "departments.engineering": {"aws_ou": "engineering", "gcp_folder": "engineering"},
    }))


def measure(total: int, aws: CloudProcess, gcp: CloudProcess, tmp: Path, rng: random.Random) -> dict:
    from sqlalchemy import func, select

    from sandbox.db import make_engine
    from sandbox.models import Notification

    aws.reset()
    gcp.reset()
    with c.postgres_database() as url:
        config = tmp / f"sandbox-{total}.toml"
        write_config(config, url, aws, gcp)
        settings = c.bench_settings(url, aws.url, gcp.url)
        engine = make_engine(url)
        now = datetime.now(timezone.utc)
        seeds = [c.Seed("aws" if i % 2 else "gcp", f"user{i % 3000:05d}@example.com", "active",
                        now - timedelta(days=5), now + timedelta(days=2),
                        cloud_id=f"8{i:011d}" if i % 2 else f"live-{i:08d}") for i in range(total)]
        c.seed_sandboxes(engine, settings, seeds, rng=rng)
        argv = [str(c.VENV_BIN / "sandbox"), "--config", str(config), "daemon", "--once"]
        for job in JOBS:
            argv += ["--job", job]
        rss, seconds, out = peak_rss(argv)
        with engine.connect() as conn:
            notices = conn.execute(select(func.count()).select_from(Notification)).scalar()
        engine.dispose()
    if total and notices != total:
        raise SystemExit(f"expected {total} warnings, the outbox holds {notices}: {out}")
    return {"sandboxes": total, "peak_rss_mib": round(rss, 1), "seconds": round(seconds, 1),
            "summary": out.strip().splitlines()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated live sandbox counts")
    parser.add_argument("--quick", action="store_true", help="sizes 200,2000")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    sizes = [200, 2000] if args.quick else [int(s) for s in args.sizes.split(",")]

    rng = random.Random(3)
    python = str(c.VENV_BIN / "python")
    reference_rss, _, _ = peak_rss([python, "-c", "import sandbox.daemon"])
    runs = []
    with CloudProcess.start("aws") as aws, CloudProcess.start("gcp") as gcp, \
            tempfile.TemporaryDirectory(prefix="sandbox-bench-mem-") as tmp:
        for total in [0, *sizes]:
            print(f"daemon --once over {total:,} live sandboxes...", flush=True)
            runs.append(measure(total, aws, gcp, Path(tmp), rng))
    rows = [["python -c 'import sandbox.daemon'", "-", reference_rss, 1.0, "-", "-"]]
    small, large = runs[1], runs[-1]
    for run in runs:
        rows.append([f"daemon --once {'+'.join(JOBS)}", f"{run['sandboxes']:,}", run["peak_rss_mib"],
                     c.ratio(run["peak_rss_mib"], reference_rss), run["seconds"],
                     round(run["sandboxes"] / run["seconds"]) if run["sandboxes"] else "-"])
    c.print_table(f"Peak RSS of the daemon process (PostgreSQL {c.postgres_version()})",
                  ["process", "live sandboxes", "peak RSS MiB", "× import", "seconds", "sandboxes/s"], rows)
    per_1000 = (large["peak_rss_mib"] - small["peak_rss_mib"]) / ((large["sandboxes"] - small["sandboxes"]) / 1000)
    print(f"\ngrowth {small['sandboxes']:,} → {large['sandboxes']:,} sandboxes: "
          f"{large['peak_rss_mib'] - small['peak_rss_mib']:+.1f} MiB ({per_1000:+.2f} MiB per 1,000); "
          f"{large['sandboxes']:,} sandboxes peak at {c.ratio(large['peak_rss_mib'], reference_rss)}× the bare import")
    c.write_json(args.json, {"benchmark": "daemon_memory", "machine": c.machine(),
                             "postgresql": c.postgres_version(), "jobs": JOBS,
                             "reference_import_rss_mib": round(reference_rss, 1), "runs": runs,
                             "growth_mib_per_1000": round(per_1000, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
