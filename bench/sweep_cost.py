"""Benchmark 2, sweep cost against size: does a daemon pass cost what is due, or what exists?

    .venv/bin/python bench/sweep_cost.py [--sizes 2000,10000,100000] [--db sqlite,postgresql]
                                         [--repeat 3] [--live 200] [--quick] [--json FILE]

The same work is due in every database; only the history around it grows. Each database
holds `size` sandboxes:
  history   ended sandboxes (92% deleted, 4% denied, 4% failed) made over two years, with
            what they left in every table (bench/_history.py: members, events, milestones,
            delivered notices, cost samples, GCP "unknown_spend" findings);
  live set  --live sandboxes (half AWS, half GCP), really provisioned in moto / the GCP
            emulator: 95% active and 5 to 30 days from expiry, 5% frozen inside their grace
            period; plus 10 requests awaiting an admin's approval and one account and one
            project made by hand (orphans). Built once, copied into every database;
  due       20 requests (10 AWS, 10 GCP), added to each database before its passes.
Every job the daemon runs (sandbox.jobs.JOBS, through Daemon.run_job) is measured once,
in the daemon's order, each with a fixed amount of work arranged before it:
  provision  the 20 get an account / project ([aws] concurrency 4, [gcp] concurrency 8);
  expiry     of each cloud's 10: 3 warned (12 h left), 3 frozen (expired), 2 past their
             grace period (deleted: the account closed, the project deleted), 2 left alone;
  budgets    every live sandbox's spend read (one Cost Explorer query; GCP has no cost
             source here): the new ones are read for the first time, every GCP one is
             "unknown spend", the rest is unchanged;
  tags       every live sandbox checked against one listing per cloud; 2 per cloud had a
             tag / label removed by hand and are repaired; the orphans are seen again;
  reconcile  2 per cloud closed / deleted by hand: found gone and ended;
  notify     the notices the passes above queued, delivered (log back end).
Per pass: wall seconds, this process's CPU seconds (the daemon's threads; on SQLite the
database's work too), SQL statements the App's engine sent (before_cursor_execute; an
executemany counts once) and cloud requests (a counting proxy in front of moto, the
emulator's /emulator/stats). A scenario runs --repeat times (default 5) per database and size, in a
rotating order, from a fresh copy of the same seeded database; the table shows medians
(and the fastest run's time), with the time the statements took (SQL s) and CPU beside
wall time: on a shared machine those move less with other processes' load.
Target: every pass's median time, statements and cloud requests within 1.3x from the
smallest size to the largest; the script says which pass misses.

The clouds run in their own processes (bench/_clouds.py) for the whole run: what a
scenario made there is removed after it (accounts out of the organization, projects
deleted and purged), so every scenario sees the same cloud. SQLite databases get no
ANALYZE (the application never runs it); PostgreSQL ones a VACUUM ANALYZE after seeding.
--quick: sizes 2000,20000, --repeat 1, --live 60.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402
import _history  # noqa: E402
from _clouds import CloudProcess  # noqa: E402

DUE_PER_CLOUD = 10
PENDING = 10  # requests awaiting approval in the live set
ADMIN_EMAIL = "admin@example.com"
JOBS = ("provision", "expiry", "budgets", "tags", "reconcile", "notify")
TARGET = 1.3
MANAGED_OU = "/sandbox/active/engineering"
ROLES = ("warn", "warn", "warn", "freeze", "freeze", "freeze", "grace", "grace", "alone", "alone")
DRIFTED = (0, 8)  # positions in ROLES: one warned, one left alone
GONE = (3, 9)  # one frozen, one left alone


class Run:
    """The clouds, the secrets key and the settings every database of this run shares."""

    def __init__(self, aws: CloudProcess, gcp: CloudProcess, workdir: Path):
        from sandbox.secrets import generate_key

        self.aws, self.gcp, self.workdir = aws, gcp, workdir
        self.key = generate_key()  # credentials are copied between databases: one key for all

    def settings(self, url: str) -> Any:
        return c.bench_settings(url, self.aws.url, self.gcp.url, secrets={"key": self.key})

    def boto(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.aws.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def gcp_call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.gcp.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None


# ---- the live set, built once --------------------------------------------------------

def build_live_set(run: Run, live: int, rng: random.Random) -> tuple[Path, int]:
    """A SQLite database holding only the live set, provisioned for real; (path, sandboxes)."""
    from sqlalchemy import func, select, update

    from sandbox.config import Identity
    from sandbox.daemon import Daemon
    from sandbox.models import Sandbox
    from sandbox.service import bootstrap, build_app
    from sandbox.service.changes import freeze_sandbox

    path = run.workdir / "live.db"
    url = c.sqlite_database(path)
    app = build_app(run.settings(url))
    bootstrap(app, Identity(ADMIN_EMAIL, "engineering", is_admin=True))
    now = datetime.now(timezone.utc)
    seeds = [c.Seed("aws" if i % 2 else "gcp", f"live{i:05d}@example.com", "requested",
                    now - timedelta(minutes=5), now + timedelta(days=14), next_attempt_at=now - timedelta(minutes=1))
             for i in range(live)]
    seeds += [c.Seed("aws" if i % 2 else "gcp", f"wait{i:05d}@example.com", "requested",
                     now - timedelta(hours=rng.uniform(1, 48)), now + timedelta(days=14),
                     next_attempt_at=now - timedelta(hours=1), approval_required=True) for i in range(PENDING)]
    ids = c.seed_sandboxes(app.engine, app.settings, seeds, rng=rng)[:live]
    daemon = Daemon(app)
    result = daemon.run_job("provision")
    if result.done != live or result.failed:
        raise SystemExit(f"live set: {result.summary()}")
    with app.session() as session:
        for sandbox_id in ids:
            session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(
                created_at=now - timedelta(days=rng.uniform(1, 30)),
                expires_at=now + timedelta(days=rng.uniform(5, 30))))
    for sandbox_id in ids[:max(2, live // 20)]:
        freeze_sandbox(app, sandbox_id, actor="daemon", reason="expired", cause="expiry")
    # One account and one project made by hand in the managed OU / folder: orphans.
    org = run.boto("organizations")
    stray = org.create_account(Email="by-hand@example.com", AccountName="by-hand")["CreateAccountStatus"]["AccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    org.move_account(AccountId=stray, SourceParentId=root, DestinationParentId=_ou_id(org, MANAGED_OU))
    run.gcp_call("POST", "/v3/projects", {"projectId": "by-hand-project", "parent": _folder(run, MANAGED_OU),
                                          "displayName": "by-hand-project"})
    for job in JOBS[1:] * 2:  # settle: every warning, finding and notice of the live set is done
        daemon.run_job(job)
    with app.session() as session:
        total = session.execute(select(func.count()).select_from(Sandbox)).scalar()
    app.close()
    _checkpoint(path)
    return path, total


def _ou_id(org: Any, path: str) -> str:
    parent = org.list_roots()["Roots"][0]["Id"]
    for name in path.strip("/").split("/"):
        units = org.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]
        parent = next(u["Id"] for u in units if u["Name"] == name)
    return parent


def _folder(run: Run, path: str) -> str:
    from sandbox.emulators.gcp import DEFAULT_ORGANIZATION

    parent, folders = DEFAULT_ORGANIZATION, run.gcp_call("GET", "/emulator/state")["folders"]
    for part in path.strip("/").split("/"):
        parent = next(f["name"] for f in folders if f["parent"] == parent and f["displayName"] == part
                      and f["state"] == "ACTIVE")
    return parent


def _checkpoint(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def copy_rows(source_url: str, target_engine: Any) -> None:
    """Every row of the live-set database into a migrated one (integer ids renumbered)."""
    from sqlalchemy import create_engine, insert, select
    from sqlmodel import SQLModel

    import sandbox.models  # noqa: F401 - the tables

    source = create_engine(source_url)
    with source.connect() as src, target_engine.begin() as dst:
        for table in SQLModel.metadata.sorted_tables:
            renumber = "id" in table.c and table.c.id.autoincrement is not False and \
                str(table.c.id.type).upper().startswith("INTEGER")
            rows = [dict(row) for row in src.execute(select(table)).mappings()]
            if renumber:
                for row in rows:
                    row.pop("id")
            if rows:
                dst.execute(insert(table), rows)
    source.dispose()


# ---- one database per size, seeded once -------------------------------------------

class Database:
    """A seeded database to copy for each scenario: a SQLite file or a PostgreSQL template."""

    def __init__(self, kind: str, size: int, run: Run):
        self.kind, self.size, self.run = kind, size, run
        self.copies = 0
        self.name = f"sandbox_bench_tmpl_{size}_{random.randrange(1 << 30):08x}"

    def build(self, live_path: Path, live_total: int, due: int, rng: random.Random) -> float:
        from sandbox.db import make_engine, upgrade

        if self.kind == "sqlite":
            self.path = self.run.workdir / f"{self.name}.db"
            url = c.sqlite_database(self.path)
        else:
            url = self._create(self.name)
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
        engine = make_engine(url)
        with c.Stopwatch() as watch:
            copy_rows(f"sqlite:///{live_path}", engine)
            from sqlalchemy import text

            with engine.connect() as conn:
                taken = set(conn.execute(text("SELECT id FROM sandbox")).scalars())
            _history.seed_history(engine, self.run.settings(url), self.size - live_total - due,
                                  datetime.now(timezone.utc), rng, taken=taken)
            _history.analyze(engine)
        engine.dispose()
        if self.kind == "sqlite":
            _checkpoint(self.path)
        return watch.seconds

    def copy(self) -> str:
        """A fresh copy's URL, written through to the disk: otherwise the copy's writeback
        (hundreds of MB at 100,000 sandboxes) slows the commits of the passes measured next,
        and more so the bigger the database."""
        self.copies += 1
        if self.kind == "sqlite":
            target = self.run.workdir / f"scenario-{self.size}-{self.copies}.db"
            shutil.copyfile(self.path, target)
            url = f"sqlite:///{target}"
        else:
            # FILE_COPY: PostgreSQL 15's default (WAL_LOG) writes the whole copy to the WAL.
            url = self._create(f"{self.name}_{self.copies}", template=self.name, strategy="FILE_COPY")
            self._admin("CHECKPOINT")
        os.sync()
        return url

    def drop(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm", ".daemon.lock"):
                Path(make_url(url).database + suffix).unlink(missing_ok=True)
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def close(self) -> None:
        if self.kind == "sqlite":
            self.path.unlink(missing_ok=True)
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _create(self, name: str, template: str | None = None, strategy: str | None = None) -> str:
        from sqlalchemy.engine import make_url

        self._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
                    + (f" STRATEGY {strategy}" if strategy else ""))
        return make_url(c.PG_URL).set(database=name).render_as_string(hide_password=False)

    @staticmethod
    def _admin(sql: str) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(c.PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(sql))
        admin.dispose()


# ---- one scenario ----------------------------------------------------------------------

def run_scenario(run: Run, database: Database, rng: random.Random) -> dict[str, Any]:
    from sqlalchemy import select, text, update
    from sqlalchemy.engine import make_url

    from sandbox.daemon import Daemon
    from sandbox.models import Sandbox
    from sandbox.service import build_app

    url = database.copy()
    settings = run.settings(url)
    app = build_app(settings)
    cloud_ids: dict[str, str | None] = {}
    try:
        with app.engine.connect() as conn:
            taken = set(conn.execute(text("SELECT id FROM sandbox")).scalars())
        now = datetime.now(timezone.utc)
        seeds = [c.Seed(provider, f"due{i:03d}-{provider}@example.com", "requested", now - timedelta(minutes=5),
                        now + timedelta(days=7), next_attempt_at=now - timedelta(minutes=1))
                 for provider in ("aws", "gcp") for i in range(DUE_PER_CLOUD)]
        due_ids = c.seed_sandboxes(app.engine, settings, seeds, rng=rng, taken=taken, analyze=False)
        del taken
        by_role = {provider: due_ids[k * DUE_PER_CLOUD:(k + 1) * DUE_PER_CLOUD] for k, provider in
                   enumerate(("aws", "gcp"))}
        daemon = Daemon(app)
        counter = c.StatementCounter(app.engine, timed=True)
        passes: dict[str, dict[str, Any]] = {}

        def measure(job: str) -> None:
            run.aws.reset_counts()
            run.gcp.reset_counts()
            counter.reset()
            backends = c.BackendCpu(make_url(url).database) if database.kind == "postgresql" else nullcontext()
            cpu = time.process_time()
            with backends, c.Stopwatch() as watch:
                result = daemon.run_job(job)
            cpu = time.process_time() - cpu
            passes[job] = {"due": result.due, "done": result.done, "failed": result.failed,
                           "errors": result.errors[:3], "seconds": round(watch.seconds, 4),
                           "cpu_seconds": round(cpu, 4), "db_cpu_seconds": getattr(backends, "seconds", None),
                           "statements": counter.count, "sql_seconds": round(counter.total_seconds, 4),
                           "statement_kinds": dict(counter.kinds), "aws_requests": run.aws.requests(),
                           "gcp_requests": run.gcp.requests(), "aws_by_action": run.aws.by_action(),
                           "slowest_sql": counter.slowest()}
            passes[job]["cloud_requests"] = passes[job]["aws_requests"] + passes[job]["gcp_requests"]
            if result.failed:
                raise SystemExit(f"{job} at {database.size} ({database.kind}): {result.summary()}")

        measure("provision")
        with app.session() as session:
            cloud_ids = dict(session.execute(select(Sandbox.id, Sandbox.cloud_id)
                                             .where(Sandbox.id.in_(due_ids))).all())
        later = datetime.now(timezone.utc)
        with app.session() as session:
            for ids in by_role.values():
                for role, sandbox_id in zip(ROLES, ids):
                    where = update(Sandbox).where(Sandbox.id == sandbox_id)
                    if role == "warn":
                        session.execute(where.values(expires_at=later + timedelta(hours=12)))
                    elif role == "freeze":
                        session.execute(where.values(expires_at=later - timedelta(minutes=1)))
                    elif role == "grace":
                        session.execute(where.values(
                            state="frozen", frozen_reason="expiry", expires_at=later - timedelta(days=3),
                            frozen_at=later - timedelta(days=3), delete_after=later - timedelta(minutes=1)))
        measure("expiry")
        measure("budgets")
        org = run.boto("organizations")
        for position in DRIFTED:
            org.untag_resource(ResourceId=cloud_ids[by_role["aws"][position]], TagKeys=["cost-center"])
            run.gcp_call("PATCH", f"/v3/projects/{cloud_ids[by_role['gcp'][position]]}?updateMask=labels",
                         {"labels": {"tampered": "yes"}})
        measure("tags")
        for position in GONE:
            org.close_account(AccountId=cloud_ids[by_role["aws"][position]])
            run.gcp_call("DELETE", f"/v3/projects/{cloud_ids[by_role['gcp'][position]]}")
        measure("reconcile")
        measure("notify")
        counter.close()
    finally:
        app.close()
        _tidy_clouds(run, [cloud_id for cloud_id in cloud_ids.values() if cloud_id])
        database.drop(url)
    return passes


def _tidy_clouds(run: Run, cloud_ids: list[str]) -> None:
    """Take what a scenario made out of the clouds' listings, so the next one sees the same."""
    org = run.boto("organizations")
    for cloud_id in cloud_ids:
        try:
            if cloud_id.isdigit():
                org.remove_account_from_organization(AccountId=cloud_id)
            else:
                run.gcp_call("DELETE", f"/v3/projects/{cloud_id}")
        except Exception:  # noqa: BLE001 - already closed or deleted: purged below all the same
            pass
    run.gcp_call("POST", "/emulator/purge-deleted", {})


# ---- the run -----------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,10000,100000", help="comma-separated totals")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--repeat", type=int, default=5, help="scenarios per database and size (default 5)")
    parser.add_argument("--live", type=int, default=200, help="live sandboxes (default 200)")
    parser.add_argument("--quick", action="store_true", help="sizes 2000,20000, --repeat 1, --live 60")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    sizes = [2000, 20000] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeat = 1 if args.quick else args.repeat
    live = 60 if args.quick else args.live
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]

    import logging

    # Without a handler, Python prints the sweeps' warnings (closed_out_of_band: arranged here).
    logging.getLogger().addHandler(logging.NullHandler())
    rng = random.Random(11)
    started = datetime.now(timezone.utc)
    results: dict[str, dict[int, list[dict[str, Any]]]] = {k: {s: [] for s in sizes} for k in kinds}
    seeding: dict[str, dict[int, float]] = {k: {} for k in kinds}
    with CloudProcess.start("aws") as aws, CloudProcess.start("gcp") as gcp, \
            tempfile.TemporaryDirectory(prefix="sandbox-bench-sweeps-") as tmp:
        run = Run(aws, gcp, Path(tmp))
        print(f"live set: provisioning {live} sandboxes...", flush=True)
        live_path, live_total = build_live_set(run, live, rng)
        databases = {}
        try:
            for kind in kinds:
                for size in sizes:
                    print(f"{kind} {size:,}: seeding...", flush=True)
                    databases[kind, size] = Database(kind, size, run)
                    seeding[kind][size] = round(databases[kind, size].build(
                        live_path, live_total, 2 * DUE_PER_CLOUD, rng), 1)
            for rep in range(repeat):
                order = sizes[rep % len(sizes):] + sizes[:rep % len(sizes)]
                for size in order:
                    for kind in kinds:
                        print(f"scenario {rep + 1}/{repeat}: {kind} {size:,}", flush=True)
                        results[kind][size].append(run_scenario(run, databases[kind, size], rng))
        finally:
            for database in databases.values():
                database.close()
    verdicts = report(results, sizes, kinds, repeat, live, live_total)
    c.write_json(args.json, {"benchmark": "sweep_cost", "machine": c.machine(), "started": str(started),
                             "postgresql": c.postgres_version() if "postgresql" in kinds else None,
                             "sizes": sizes, "repeat": repeat, "live": live, "live_set_rows": live_total,
                             "due_requests": 2 * DUE_PER_CLOUD, "seed_seconds": seeding, "runs": results,
                             "verdicts": verdicts})
    return 0


def report(results: dict, sizes: list[int], kinds: list[str], repeat: int, live: int, live_total: int) -> dict:
    """Medians (and the fastest run) per database, size and pass; ratios of each size against
    the smallest. `cpu` is the daemon's CPU plus, on PostgreSQL, its backends'; `SQL s` the
    time from sending each statement to its result (on SQLite it includes the wait for the
    write lock between provisioning threads)."""
    small, big = sizes[0], sizes[-1]
    verdicts: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        rows = []
        for job in JOBS:
            med: dict[int, dict[str, float | None]] = {}
            for size in sizes:
                passes = [p[job] for p in results[kind][size]]
                values = {"due": [p["due"] for p in passes], "seconds": [p["seconds"] for p in passes],
                          "daemon_cpu": [p["cpu_seconds"] for p in passes],
                          "db_cpu": [p["db_cpu_seconds"] for p in passes if p.get("db_cpu_seconds") is not None],
                          "cpu": [p["cpu_seconds"] + (p.get("db_cpu_seconds") or 0) for p in passes],
                          "sql_seconds": [p["sql_seconds"] for p in passes if "sql_seconds" in p],
                          "statements": [p["statements"] for p in passes],
                          "cloud_requests": [p["cloud_requests"] for p in passes]}
                med[size] = {k: round(c.median(v), 4) if v else None for k, v in values.items()}
                med[size]["min_seconds"] = round(min(values["seconds"]), 4)
            ratio_keys = ("seconds", "min_seconds", "cpu", "sql_seconds", "statements", "cloud_requests")
            for size in sizes:
                m = med[size]
                rows.append([job, f"{size:,}", round(m["due"]), m["seconds"], m["min_seconds"], m["daemon_cpu"],
                             m["db_cpu"], m["sql_seconds"], round(m["statements"]), round(m["cloud_requests"]),
                             *(c.ratio(m[k], med[small][k]) if m[k] is not None else None for k in ratio_keys)])
            ratios = {k: c.ratio(med[big][k], med[small][k]) if med[big][k] is not None else None
                      for k in ratio_keys}
            same_work = len({med[s]["due"] for s in sizes}) == 1
            judged = ("seconds", "statements", "cloud_requests")
            met = same_work and all(ratios[k] is None or ratios[k] <= TARGET for k in judged)
            verdicts[f"{kind}:{job}"] = {**ratios, "same_due": same_work, "met": met,
                                         "medians": {str(size): med[size] for size in sizes}}
        c.print_table(f"{kind}: one daemon pass, same work, {small:,} → {big:,} sandboxes (live set {live}, "
                      f"{live_total} rows; median of {repeat} unless min; ratios against {small:,})",
                      ["pass", "sandboxes", "due", "seconds", "min s", "daemon cpu s", "db cpu s", "SQL s",
                       "SQL stmts", "cloud reqs", "time ×", "min ×", "cpu ×", "SQL s ×", "stmts ×", "reqs ×"], rows)
    print()
    for name, v in verdicts.items():
        print(f"{name:22} time {v['seconds']}× (fastest {v['min_seconds']}×)  cpu {v['cpu']}×  "
              f"SQL time {v['sql_seconds']}×  statements {v['statements']}×  requests {v['cloud_requests']}×  → "
              f"{'met' if v['met'] else 'MISSED'} (target ≤ {TARGET}× for time, statements, requests"
              f"{'' if v['same_due'] else '; DUE COUNTS DIFFER'})")
    return verdicts


if __name__ == "__main__":
    sys.exit(main())
