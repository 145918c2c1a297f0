"""Benchmark of the admin reports on PostgreSQL at program scale.

Creates (or, with --reuse, keeps) a database on the server, migrates it, and fills it in
SQL with generate_series (no ORM, no row-by-row Python): 10,000 sandboxes, 100,000
events and 1,000,000 cost samples by default, plus a few hundred findings. Then runs
every report kind as JSON (and the HTML report once), each --repeat times, and prints
the median, min and max wall time; the target is under 2 s per report.

    .venv/bin/python bench/reports_bench.py                       # postgres on 127.0.0.1
    .venv/bin/python bench/reports_bench.py --url postgresql+psycopg://postgres@db:5432/postgres \
        --json bench/out/reports.json

--url is an admin connection (it runs CREATE DATABASE); the data goes into --db.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=timezone.utc)  # the benchmark's fixed "now"
TARGET_SECONDS = 2.0
ADMIN_EMAIL = "admin@example.com"

# Each sandbox has one cost sample for each of its first 100 days. 80% were created 100 to
# 465 days ago and deleted 100 days later; the other 20% (active, frozen, failed, ...) were
# created 99 days ago, so they have a sample every day up to today, as live sandboxes do:
# about 80,000 samples fall in the default 30-day period, 700,000 in the last year.
# Every sandbox gets 10 events within its first 100 days.
FILL_SQL = [
    "SELECT setseed(0.42)",
    """
    INSERT INTO sandbox (id, name, provider, template, owner, department, state, cloud_id, location,
                         created_at, expires_at, frozen_at, delete_after, deleted_at, extension_count,
                         approval_required, approved_by, budget_usd, spend_usd, spend_at, desired_tags, plan,
                         progress, last_error, attempts, next_attempt_at, lease_owner, lease_until, version)
    SELECT id, 'user' || (i % 500) || '-' || id,
           CASE WHEN i % 2 = 0 THEN 'aws' ELSE 'gcp' END,
           (ARRAY['aws-individual','gcp-individual','aws-group','gcp-group'])[1 + i % 4],
           'user' || (i % 500) || '@example.com', 'dept' || (i % 20), state,
           CASE WHEN state IN ('requested', 'denied') THEN NULL ELSE 'cloud-' || id END, '/sandbox/active',
           created_at,
           CASE WHEN state = 'deleted' THEN created_at + interval '100 days'
                ELSE :now + ((i % 20) - 3) * interval '1 day' END,
           CASE WHEN state = 'frozen' THEN :now - interval '1 day' END,
           CASE WHEN state = 'frozen' THEN :now + ((i % 10) - 2) * interval '1 day' END,
           CASE WHEN state = 'deleted' THEN created_at + interval '100 days' + (i % 24) * interval '1 hour' END,
           i % 3, i % 4 >= 2, NULL, CASE WHEN i % 4 >= 2 THEN 500 ELSE 100 END, NULL, NULL,
           '{}', '{}', '{}', CASE WHEN state = 'failed' THEN 'no capacity' END, 0, NULL, NULL, NULL, 0
    FROM (
        SELECT i, lpad(to_hex(i), 8, '0') AS id,
               CASE WHEN i % 100 < 80 THEN :now - interval '100 days' - (random() * 365) * interval '1 day'
                    ELSE :now - interval '99 days' - (random() * 0.3) * interval '1 day' END AS created_at,
               CASE WHEN i % 100 < 80 THEN 'deleted' WHEN i % 100 < 90 THEN 'active'
                    WHEN i % 100 < 94 THEN 'frozen' WHEN i % 100 < 97 THEN 'failed'
                    WHEN i % 100 = 97 THEN 'requested' WHEN i % 100 = 98 THEN 'deleting'
                    ELSE 'denied' END AS state
        FROM generate_series(1, :sandboxes) AS i
    ) AS s
    """,
    """
    INSERT INTO cost_sample (sandbox_id, day, amount_usd, source, recorded_at)
    SELECT s.id, (s.created_at AT TIME ZONE 'UTC')::date + g,
           round((random() * 20)::numeric, 4), 'bench', s.created_at + g * interval '1 day'
    FROM sandbox AS s CROSS JOIN generate_series(0, :days_per_sandbox - 1) AS g
    """,
    """
    INSERT INTO event (sandbox_id, at, actor, action, from_state, to_state, detail)
    SELECT s.id, s.created_at + g * interval '9 days' + interval '1 hour',
           CASE WHEN g IN (0, 3, 8) THEN s.owner ELSE 'daemon' END,
           (ARRAY['request','provision_start','provisioned','extend','expiry_warning','budget_threshold',
                  'tags_repaired','freeze','destroy','deleted'])[1 + g],
           NULL, NULL, '{"bench": true}'
    FROM sandbox AS s CROSS JOIN generate_series(0, :events_per_sandbox - 1) AS g
    """,
    """
    UPDATE sandbox SET spend_usd = t.total, spend_at = :now
    FROM (SELECT sandbox_id, sum(amount_usd) AS total FROM cost_sample GROUP BY sandbox_id) AS t
    WHERE t.sandbox_id = sandbox.id AND NOT (sandbox.provider = 'gcp' AND sandbox.id LIKE '%7')
    """,
    """
    INSERT INTO finding (kind, provider, cloud_id, sandbox_id, detail, first_seen, last_seen, resolved_at)
    SELECT 'drift', provider, cloud_id, id, '{"keys": ["cost-center"]}', :now - interval '10 days',
           :now - interval '10 days', CASE WHEN i % 5 = 0 THEN NULL ELSE :now - interval '10 days' END
    FROM (SELECT *, row_number() OVER (ORDER BY id) AS i FROM sandbox WHERE state = 'active') AS a
    WHERE i % 10 = 0
    """,
    """
    INSERT INTO finding (kind, provider, cloud_id, sandbox_id, detail, first_seen, last_seen)
    SELECT 'unknown_spend', provider, cloud_id, id, '{"reason": "no cost source"}', created_at, :now
    FROM sandbox WHERE state = 'active' AND provider = 'gcp' AND spend_usd IS NULL
    """,
    """
    INSERT INTO finding (kind, provider, cloud_id, detail, first_seen, last_seen)
    SELECT 'orphan', 'aws', lpad(g::text, 12, '9'), '{"name": "made-by-hand"}', :now - interval '3 days', :now
    FROM generate_series(1, 50) AS g
    """,
    "ANALYZE",
]

RUNS = [  # (label, kind, options)
    ("usage", "usage", {}),
    ("usage 365d by owner", "usage", {"since": (NOW - timedelta(days=364)).date().isoformat(), "group_by": "owner"}),
    ("cost", "cost", {}),
    ("cost 365d by owner", "cost", {"since": (NOW - timedelta(days=364)).date().isoformat(), "group_by": "owner"}),
    ("expiring 30d", "expiring", {"days": "30"}),
    ("compliance", "compliance", {}),
    ("audit", "audit", {}),
    ("audit 365d", "audit", {"since": (NOW - timedelta(days=364)).date().isoformat()}),
    ("audit --action extend", "audit", {"action": "extend", "since": (NOW - timedelta(days=364)).date().isoformat()}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SANDBOX_BENCH_PG_URL",
                                                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                        help="admin connection to the PostgreSQL server")
    parser.add_argument("--db", default="sandbox_bench", help="database to create and fill")
    parser.add_argument("--sandboxes", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep an already filled --db")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="do not drop --db afterwards")
    args = parser.parse_args(argv)

    url = make_url(args.url).set(database=args.db).render_as_string(hide_password=False)
    fill_seconds = None
    if not (args.reuse and _exists(args.url, args.db)):
        fill_seconds = fill(args, url)
    results, machine = run_reports(url, args.repeat), machine_info(url)
    print_table(results, machine, fill_seconds)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": machine, "fill_seconds": fill_seconds,
                                               "target_seconds": TARGET_SECONDS, "results": results}, indent=2))
    if not args.keep and not args.reuse:
        _admin(args.url, f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    return 0 if all(r["median_s"] < TARGET_SECONDS for r in results) else 1


def fill(args, url: str) -> float:
    from sandbox.db import make_engine, upgrade

    started = time.perf_counter()
    _admin(args.url, f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    _admin(args.url, f'CREATE DATABASE "{args.db}"')
    engine = make_engine(url)
    upgrade(engine)
    days_per_sandbox = -(-args.samples // args.sandboxes)
    params = {"now": NOW, "sandboxes": args.sandboxes,
              "days_per_sandbox": days_per_sandbox, "events_per_sandbox": -(-args.events // args.sandboxes)}
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for statement in FILL_SQL:
            used = {k: v for k, v in params.items() if f":{k}" in statement}
            conn.execute(text(statement), used)
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("sandbox", "event", "cost_sample", "finding")}
    engine.dispose()
    seconds = time.perf_counter() - started
    print(f"filled {args.db} in {seconds:.1f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
    return round(seconds, 1)


def run_reports(url: str, repeat: int) -> list[dict]:
    from sandbox.clock import FrozenClock
    from sandbox.config import Identity, parse_settings
    from sandbox.reports import build_report, run_report
    from sandbox.secrets import generate_key
    from sandbox.service import build_app

    settings = parse_settings({"database": {"url": url}, "secrets": {"key": generate_key()},
                               "admin": {"users": [ADMIN_EMAIL]}}, "bench")
    app = build_app(settings, clock=FrozenClock(NOW))
    admin = Identity(ADMIN_EMAIL, "default", is_admin=True)
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [(label, kind, {**options, "fmt": "json"}) for label, kind, options in RUNS]
    runs.append(("cost (html)", "cost", {"fmt": "html", "out": str(out_dir / "reports_bench.html")}))
    results = []
    for label, kind, options in runs:
        total, queries, rows = [], [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            build_report(app, admin, kind, **options)
            queries.append(time.perf_counter() - started)
            started = time.perf_counter()
            output = run_report(app, admin, kind, **options)
            total.append(time.perf_counter() - started)
            rows = sum(len(s.rows) for s in output.report.sections)
        results.append({"report": label, "kind": kind, "format": options["fmt"], "rows": rows,
                        "median_s": round(statistics.median(total), 3), "min_s": round(min(total), 3),
                        "max_s": round(max(total), 3), "sql_median_s": round(statistics.median(queries), 3)})
    app.engine.dispose()
    return results


def machine_info(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    engine.dispose()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return {"nproc": os.cpu_count(), "ram_gib": round(ram, 1), "postgresql": version,
            "python": platform.python_version(), "cpu": _cpu_model(), "load_1m": round(load, 1)}


def print_table(results: list[dict], machine: dict, fill_seconds: float | None) -> None:
    print(f"machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['ram_gib']} GiB RAM, "
          f"PostgreSQL {machine['postgresql']}, Python {machine['python']}, load {machine['load_1m']}")
    header = f"{'report':<24} {'format':<6} {'rows':>8} {'median s':>9} {'min s':>7} {'max s':>7} {'sql s':>7}  ok"
    print(header)
    print("-" * len(header))
    for r in results:
        ok = "yes" if r["median_s"] < TARGET_SECONDS else "NO"
        print(f"{r['report']:<24} {r['format']:<6} {r['rows']:>8,} {r['median_s']:>9.3f} {r['min_s']:>7.3f} "
              f"{r['max_s']:>7.3f} {r['sql_median_s']:>7.3f}  {ok}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _exists(url: str, name: str) -> bool:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
    engine.dispose()
    return bool(found)


if __name__ == "__main__":
    sys.exit(main())
