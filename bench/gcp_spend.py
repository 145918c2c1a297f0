"""Benchmark: the GCP budget pass over the Cloud Billing export (BigQuery, issue 12).

    .venv/bin/python bench/gcp_spend.py [--quick] [--json FILE]

Each scenario is a fresh SQLite database with its GCP sandboxes written as rows (no
provisioning), and the GCP emulator's billing export filled through POST
/emulator/billing-export with 4 hourly line items per day per project with spend (some
with a credit), from the sandboxes' creation 3 days ago until today. Spend stays under
every threshold, so the pass makes no cloud call but the query. Scenarios:

  live-1k            1,000 live sandboxes, all with spend
  live-1k+10k-gone   the same plus 10,000 deleted sandboxes (years of history)
  live-10k           10,000 live sandboxes, all with spend
  live-10k-1k-spend  10,000 live sandboxes, 1,000 of them with spend

Measured per scenario: the provider's spend() alone (the query and reading its rows),
then two budgets passes (Daemon.run_job("budgets"), what `sandbox daemon` runs): the
first, on sandboxes never read (each one's spend becomes known, zero or not), and the
next, after one more line item today for every project with spend: the steady state,
where only sandboxes whose spend changed are worked on. Per pass: wall time, this
process's CPU time (steadier on a shared machine), BigQuery queries (POST .../queries at
the emulator's /emulator/stats) and every BigQuery request (jobs.query, jobs.get, result
pages), sandboxes claimed (due), SQL statements. The claims to check: one query whatever
the number of projects; history (deleted sandboxes) changes nothing; the query's time,
and the next pass's, follow the projects with spend. --quick: a tenth of every size.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402
from _clouds import CloudProcess  # noqa: E402

TABLE = "billing-admin.billing.gcp_billing_export_v1_000000_000000_000001"
QUERIES = "POST /bigquery/v2/projects/{project}/queries"
AGE_DAYS = 3
ROWS_PER_DAY = 4
CHUNK = 20_000  # billing rows per control-plane request


def scenarios(scale: float) -> list[tuple[str, int, int, int]]:
    """(name, live sandboxes, of them with spend, deleted sandboxes)."""
    k = lambda n: max(1, int(n * scale))  # noqa: E731
    return [("live-1k", k(1000), k(1000), 0),
            ("live-1k+10k-gone", k(1000), k(1000), k(10000)),
            ("live-10k", k(10000), k(10000), 0),
            ("live-10k-1k-spend", k(10000), k(1000), 0)]


def more_rows(project_ids: list[str], now: datetime, rng: random.Random) -> list[dict]:
    """One more line item this hour for every project: the spend a next pass finds changed."""
    when = now.replace(minute=0, second=0, microsecond=0)
    return [{"project_id": project, "usage_start_time": when.isoformat(), "cost": round(rng.uniform(0.1, 0.5), 6),
             "credits": [], "service_description": "Compute Engine"} for project in project_ids]


def run_pass(app, gcp: CloudProcess) -> dict:
    from sandbox.daemon import Daemon

    gcp.reset_counts()
    counter = c.StatementCounter(app.engine)
    cpu_before = time.process_time()
    with c.Stopwatch() as watch:
        result = Daemon(app).run_job("budgets")
    cpu = time.process_time() - cpu_before
    counter.close()
    requests = gcp.by_action()
    if result.failed:
        raise SystemExit(f"budgets: {result.summary()}")
    return {"seconds": round(watch.seconds, 3), "cpu_seconds": round(cpu, 3), "queries": requests.get(QUERIES, 0),
            "requests": sum(requests.values()), "statements": counter.count, "due": result.due,
            "done": result.done, "cloud_requests_reported": result.cloud_requests}


def billing_rows(project_ids: list[str], now: datetime, rng: random.Random) -> list[dict]:
    start = (now - timedelta(days=AGE_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for project in project_ids:
        for day in range(AGE_DAYS + 1):
            for hour in range(ROWS_PER_DAY):
                when = start + timedelta(days=day, hours=hour * 5)
                if when > now:
                    continue
                credit = [{"name": "Sustained use discount", "amount": -0.05}] if hour == 0 else []
                rows.append({"project_id": project, "usage_start_time": when.isoformat(),
                             "cost": round(rng.uniform(0.1, 0.5), 6), "credits": credit,
                             "service_description": "Compute Engine"})
    return rows


def run_scenario(name: str, live: int, with_spend: int, deleted: int, gcp: CloudProcess,
                 workdir: Path, rng: random.Random) -> dict:
    from sandbox.provider import Placement
    from sandbox.service import build_app

    gcp.reset()
    now = datetime.now(timezone.utc)
    url = c.sqlite_database(workdir / f"{name}.db")
    settings = c.bench_settings(url, "", gcp.url, gcp={"billing_export_table": TABLE})
    app = build_app(settings)
    created = now - timedelta(days=AGE_DAYS)
    projects = [f"bench-live-{i:06d}" for i in range(live)]
    seeds = [c.Seed("gcp", f"user{i % 500:04d}@example.com", "active", created,
                    now + timedelta(days=10), cloud_id=project) for i, project in enumerate(projects)]
    for i in range(deleted):
        born = now - timedelta(days=rng.uniform(30, 700))
        ended = born + timedelta(days=7)
        seeds.append(c.Seed("gcp", f"user{i % 500:04d}@example.com", "deleted", born, ended,
                            cloud_id=f"bench-gone-{i:06d}", frozen_at=ended,
                            delete_after=ended + timedelta(days=3), deleted_at=ended + timedelta(days=3)))
    with c.Stopwatch() as seeding:
        c.seed_sandboxes(app.engine, settings, seeds, rng=rng)
        rows = billing_rows(projects[:with_spend], now, rng)
        for part in c.chunked(rows, CHUNK):
            gcp._call("POST", "/emulator/billing-export", {"table": TABLE, "rows": part})

    provider = app.provider("gcp")
    placements = [Placement(cloud_id=p, location="sandbox/active/engineering") for p in projects]
    start, end = created.date(), now.date() + timedelta(days=1)
    provider.spend(placements[:1], start, end)  # warm: the BigQuery client, DuckDB, sqlglot
    gcp.reset_counts()
    cpu_before = time.process_time()
    with c.Stopwatch() as query:
        report = provider.spend(placements, start, end)
    spend_cpu = time.process_time() - cpu_before
    query_requests = gcp.by_action()
    spent = sum(1 for daily in report.by_cloud_id.values() if daily and any(daily.values()))

    first = run_pass(app, gcp)
    if first["done"] != live:
        raise SystemExit(f"budgets in {name}: the first pass handled {first['done']} of {live}")
    for part in c.chunked(more_rows(projects[:with_spend], datetime.now(timezone.utc), rng), CHUNK):
        gcp._call("POST", "/emulator/billing-export", {"table": TABLE, "rows": part})
    following = run_pass(app, gcp)
    app.engine.dispose()
    return {"scenario": name, "live": live, "with_spend": with_spend, "deleted": deleted,
            "billing_rows": len(rows), "result_rows": sum(len(d or {}) for d in report.by_cloud_id.values()),
            "projects_with_spend_read": spent, "seed_seconds": round(seeding.seconds, 1),
            "spend_seconds": round(query.seconds, 3), "spend_cpu_seconds": round(spend_cpu, 3),
            "spend_queries": query_requests.get(QUERIES, 0), "spend_requests": sum(query_requests.values()),
            "first_pass": first, "next_pass": following}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    rng = random.Random(12)
    runs = []
    with CloudProcess.start("gcp") as gcp, tempfile.TemporaryDirectory(prefix="bench-gcp-") as tmp:
        for name, live, with_spend, deleted in scenarios(0.1 if args.quick else 1.0):
            print(f"{name}: seeding {live + deleted:,} sandboxes and the export...", flush=True)
            runs.append(run_scenario(name, live, with_spend, deleted, gcp, Path(tmp), rng))
    base = runs[0]
    rows = [[r["scenario"], f"{r['live']:,}", f"{r['with_spend']:,}", f"{r['deleted']:,}",
             f"{r['billing_rows']:,}", r["spend_queries"], r["spend_requests"], r["spend_seconds"],
             c.ratio(r["spend_seconds"], base["spend_seconds"]),
             r["first_pass"]["due"], r["first_pass"]["cpu_seconds"], r["first_pass"]["statements"],
             r["next_pass"]["queries"], r["next_pass"]["due"], r["next_pass"]["seconds"],
             r["next_pass"]["cpu_seconds"], c.ratio(r["next_pass"]["cpu_seconds"], base["next_pass"]["cpu_seconds"]),
             r["next_pass"]["statements"]] for r in runs]
    c.print_table(f"GCP budget pass over the billing export (SQLite; ratios against {base['scenario']})",
                  ["scenario", "live", "with spend", "deleted", "export rows", "queries", "BQ reqs",
                   "spend() s", "spend ×", "1st due", "1st CPU s", "1st SQL", "next queries", "next due",
                   "next s", "next CPU s", "CPU ×", "next SQL"], rows)
    by = {r["scenario"]: r for r in runs}
    one_query = all(r["spend_queries"] == 1 and r["first_pass"]["queries"] == 1 and r["next_pass"]["queries"] == 1
                    for r in runs)
    # CPU time of the daemon's process: wall time moves with the machine's other load.
    cpu = {name: r["next_pass"]["cpu_seconds"] for name, r in by.items()}
    history = cpu["live-1k+10k-gone"] / cpu["live-1k"]
    spend_follows = by["live-10k-1k-spend"]["spend_seconds"] / by["live-10k"]["spend_seconds"]
    pass_follows = cpu["live-10k-1k-spend"] / cpu["live-1k"]
    pass_vs_all = cpu["live-10k-1k-spend"] / cpu["live-10k"]
    print(f"one BigQuery query per pass at every size: {'yes' if one_query else 'NO'}")
    print(f"10,000 deleted sandboxes beside 1,000 live: next pass CPU time {history:.2f}× "
          f"({'history changes nothing' if history < 1.25 else 'HISTORY COSTS TIME'})")
    print(f"10,000 live, 1,000 with spend vs all with spend: spend() time {spend_follows:.2f}×, "
          f"next pass CPU time {pass_vs_all:.2f}×")
    print(f"10,000 live, 1,000 with spend vs 1,000 live: next pass CPU time {pass_follows:.2f}× "
          f"({'follows the sandboxes with spend' if pass_follows < 1.5 else 'FOLLOWS THE LIVE SANDBOXES'})")
    c.write_json(args.json, {"benchmark": "gcp_spend", "machine": c.machine(), "runs": runs,
                             "verdicts": {"one_query_per_pass": one_query,
                                          "history_pass_cpu_ratio": round(history, 3),
                                          "spend_time_1k_of_10k_with_spend_ratio": round(spend_follows, 3),
                                          "pass_cpu_1k_of_10k_vs_1k_live_ratio": round(pass_follows, 3),
                                          "pass_cpu_1k_of_10k_vs_10k_with_spend_ratio": round(pass_vs_all, 3)}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
