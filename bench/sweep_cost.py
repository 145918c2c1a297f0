"""Benchmark 2, sweep cost against size: does a daemon pass cost what is due, or what exists?

    .venv/bin/python bench/sweep_cost.py [--sizes 1000,10000,100000] [--quick] [--json FILE]

For each size, a fresh PostgreSQL database (sandbox_bench_*) holds that many sandboxes,
1% of them due, the rest history no sweep has work for (70% deleted, 20% active and far
from expiry, frozen in their grace period, awaiting approval, denied, failed). Two passes
of the daemon (Daemon.run_job, exactly what `sandbox daemon` runs) are measured:

  provision  the 1% are `requested` (half AWS, half GCP): each gets an account / project
             in moto / the GCP emulator ([aws] concurrency 4, [gcp] concurrency 8);
  expiry     those same sandboxes, now active, are made due: half expired (frozen: access
             revoked in the cloud), half inside the 1-day warning window (warned: DB only).

Per pass: wall time, SQL statements the App's engine issued (a before_cursor_execute
listener; an executemany counts once) and cloud API requests counted where they arrive:
at a counting proxy in front of moto and at the emulator's GET /emulator/stats. The
ratios 10k/1k and 100k/1k should be ~10 and ~100 for everything (due items grow 10× and
100×); were a sweep to scan all rows, its statements or time would grow with the total.

The clouds run in their own processes (bench/_clouds.py). --quick: sizes 200,2000,20000.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402
from _clouds import CloudProcess  # noqa: E402

DUE_SHARE = 0.01
ADMIN_EMAIL = "admin@example.com"


def run_size(total: int, aws: CloudProcess, gcp: CloudProcess, rng: random.Random) -> dict:
    from sqlalchemy import update

    from sandbox.config import Identity
    from sandbox.daemon import Daemon
    from sandbox.models import Sandbox
    from sandbox.service import bootstrap, build_app

    due = max(2, round(total * DUE_SHARE))
    aws.reset()
    gcp.reset()
    with c.postgres_database() as url:
        settings = c.bench_settings(url, aws.url, gcp.url)
        app = build_app(settings)
        bootstrap(app, Identity(ADMIN_EMAIL, "engineering", is_admin=True))
        now = datetime.now(timezone.utc)
        due_seeds = [c.Seed("aws" if i % 2 else "gcp", f"due{i:05d}@example.com", "requested",
                            now - timedelta(minutes=5), now + timedelta(days=7),
                            next_attempt_at=now - timedelta(minutes=1)) for i in range(due)]
        with c.Stopwatch() as seeding:
            due_ids = c.seed_sandboxes(app.engine, settings, due_seeds, rng=rng)
            c.seed_sandboxes(app.engine, settings, c.history_seeds(total - due, now, rng), rng=rng)
        daemon = Daemon(app)
        counter = c.StatementCounter(app.engine)
        passes = {}

        def measure(job: str) -> dict:
            aws.reset_counts()
            gcp.reset_counts()
            counter.reset()
            with c.Stopwatch() as watch:
                result = daemon.run_job(job)
            figures = {"due": result.due, "done": result.done, "failed": result.failed,
                       "seconds": round(watch.seconds, 3), "statements": counter.count,
                       "statement_kinds": dict(counter.kinds),
                       "aws_requests": aws.requests(), "gcp_requests": gcp.requests()}
            figures["cloud_requests"] = figures["aws_requests"] + figures["gcp_requests"]
            if result.failed or result.done != due:
                raise SystemExit(f"{job} at {total}: {result.summary()}")
            return figures

        passes["provision"] = measure("provision")
        # Half of each provider's expired (freeze), half inside the 1-day warning window (warn).
        later = datetime.now(timezone.utc)
        to_freeze = [sid for i, sid in enumerate(due_ids) if (i // 2) % 2 == 0]
        to_warn = [sid for i, sid in enumerate(due_ids) if (i // 2) % 2 == 1]
        with app.session() as session:
            for ids, expires_at in ((to_freeze, later - timedelta(minutes=1)),
                                    (to_warn, later + timedelta(hours=12))):
                for part in c.chunked(ids, 500):
                    session.execute(update(Sandbox).where(Sandbox.id.in_(part)).values(expires_at=expires_at))
        passes["expiry"] = measure("expiry")
        counter.close()
        app.engine.dispose()
    return {"total": total, "due": due, "seed_seconds": round(seeding.seconds, 1), "passes": passes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated totals")
    parser.add_argument("--quick", action="store_true", help="sizes 200,2000,20000")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    sizes = [200, 2000, 20000] if args.quick else [int(s) for s in args.sizes.split(",")]

    rng = random.Random(11)
    runs = []
    with CloudProcess.start("aws") as aws, CloudProcess.start("gcp") as gcp:
        for total in sizes:
            print(f"size {total:,}: seeding and running the passes...", flush=True)
            runs.append(run_size(total, aws, gcp, rng))
    base = runs[0]
    rows = []
    for job in ("provision", "expiry"):
        for run in runs:
            p, b = run["passes"][job], base["passes"][job]
            rows.append([job, f"{run['total']:,}", p["due"], p["seconds"], p["statements"], p["aws_requests"],
                         p["gcp_requests"], c.ratio(p["due"], b["due"]), c.ratio(p["seconds"], b["seconds"]),
                         c.ratio(p["statements"], b["statements"]),
                         c.ratio(p["cloud_requests"], b["cloud_requests"])])
    c.print_table(f"One daemon pass against size (PostgreSQL {c.postgres_version()}, 1% due; ratios against "
                  f"the {base['total']:,} run)",
                  ["pass", "sandboxes", "due", "seconds", "SQL stmts", "AWS reqs", "GCP reqs",
                   "due ×", "time ×", "stmts ×", "reqs ×"], rows)
    verdicts = {}
    for job in ("provision", "expiry"):
        big = runs[-1]["passes"][job]
        b = base["passes"][job]
        due_x = big["due"] / b["due"]
        per_due = {k: (big[k] / big["due"]) / (b[k] / b["due"]) for k in ("statements", "cloud_requests")}
        ok = all(v <= 1.25 for v in per_due.values())  # below 1: a fixed cost shared by more items
        verdicts[job] = {"statements_per_due_ratio": round(per_due["statements"], 3),
                         "requests_per_due_ratio": round(per_due["cloud_requests"], 3), "follows_due": ok}
        print(f"{job}: due grew {due_x:.0f}×; statements per due item {per_due['statements']:.2f}×, "
              f"cloud requests per due item {per_due['cloud_requests']:.2f}× → "
              f"{'cost follows the due items' if ok else 'COST DOES NOT FOLLOW THE DUE ITEMS'}")
    c.write_json(args.json, {"benchmark": "sweep_cost", "machine": c.machine(),
                             "postgresql": c.postgres_version(), "due_share": DUE_SHARE, "runs": runs,
                             "verdicts": verdicts})
    return 0


if __name__ == "__main__":
    sys.exit(main())
