"""What the benchmark scripts share: the machine, settings, fast seeding, counting, output.

Not a benchmark itself. Each bench/*.py puts the repository root on sys.path and imports
this module as `_common`.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PG_URL = os.environ.get("SANDBOX_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---- the machine ------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    """What a figure was measured on (quoted in BENCHMARKS.md)."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "loadavg_when_written": _read("/proc/loadavg").split()[:3],
    }


def postgres_version(url: str = PG_URL) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SHOW server_version")).scalar()
    finally:
        engine.dispose()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


# ---- output -------------------------------------------------------------------------------

def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "-" if value is None else str(value)


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).replace("×", "").replace("x", "").lstrip("-").isdigit()


def write_json(path: str | None, doc: dict[str, Any]) -> None:
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# ---- settings and databases -------------------------------------------------------------

def bench_settings(db_url: str, aws_url: str = "", gcp_url: str = "", **overrides: dict) -> Any:
    """The tests' settings (sandbox.emulators.settings), with no per-user quota."""
    from sandbox.emulators.settings import emulator_settings

    return emulator_settings(db_url, aws_url, gcp_url, source="bench-config",
                             **{"quotas": {"max_live_per_user": 0}, **overrides})


def settings_toml(settings_raw: dict[str, dict[str, Any]]) -> str:
    """A minimal TOML writer for flat [section] tables (enough for the CLI bench's config)."""
    lines = []
    for section, values in settings_raw.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines)


@contextmanager
def postgres_database(prefix: str = "sandbox_bench", keep: bool = False) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sandbox.db import make_engine, upgrade

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = make_url(PG_URL)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sqlite_database(path: Path) -> str:
    from sandbox.db import make_engine, upgrade

    if path.exists():
        path.unlink()
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


# ---- seeding ------------------------------------------------------------------------------

@dataclass
class Seed:
    """One row to insert: who owns it, in which state, and its deadlines."""

    provider: str
    owner: str
    state: str
    created_at: datetime
    expires_at: datetime
    cloud_id: str | None = None
    frozen_at: datetime | None = None
    delete_after: datetime | None = None
    deleted_at: datetime | None = None
    next_attempt_at: datetime | None = None
    approval_required: bool = False


TEMPLATE_OF = {"aws": "aws-individual", "gcp": "gcp-individual"}


def seed_sandboxes(engine: Any, settings: Any, seeds: list[Seed], *, chunk: int = 5000,
                   rng: random.Random | None = None, taken: set[str] | None = None,
                   analyze: bool = True) -> list[str]:
    """Bulk INSERT (SQLAlchemy core, executemany) sandbox and owner-member rows.

    Rows carry what request_sandbox would write (template snapshot, cost tags, location),
    so a sweep that picks one up can act on it. Returns the new ids in order; `taken` ids
    (those already in the table) are avoided. `analyze`: VACUUM ANALYZE afterwards (PostgreSQL).
    """
    from sqlalchemy import insert

    from sandbox.models import Member, Sandbox
    from sandbox.naming import sandbox_name
    from sandbox.service.plans import department_location
    from sandbox.templates import find_template

    rng = rng or random.Random(1)
    templates = {p: find_template(settings.template_dirs(), name) for p, name in TEMPLATE_OF.items()}
    snapshots = {p: t.snapshot().to_json() for p, t in templates.items()}
    locations = {p: department_location(settings, p, "engineering") for p in templates}
    used: set[str] = taken if taken is not None else set()
    sandbox_rows: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    ids: list[str] = []
    for seed in seeds:
        sandbox_id = f"{rng.getrandbits(32):08x}"
        while sandbox_id in used:
            sandbox_id = f"{rng.getrandbits(32):08x}"
        used.add(sandbox_id)
        ids.append(sandbox_id)
        template = templates[seed.provider]
        tags = {**template.tags, "sandbox-id": sandbox_id, "sandbox-owner": seed.owner,
                "sandbox-department": "engineering", "sandbox-template": template.name,
                "sandbox-expires": seed.expires_at.strftime("%Y-%m-%dT%H:%MZ")}
        sandbox_rows.append(dict(
            id=sandbox_id, name=sandbox_name(seed.owner, sandbox_id), provider=seed.provider,
            template=template.name, owner=seed.owner, department="engineering", state=seed.state,
            cloud_id=seed.cloud_id, location=locations[seed.provider], created_at=seed.created_at,
            expires_at=seed.expires_at, frozen_at=seed.frozen_at, delete_after=seed.delete_after,
            deleted_at=seed.deleted_at, extension_count=0, approval_required=seed.approval_required,
            approved_by=None, budget_usd=template.budget_usd, spend_usd=None, spend_at=None,
            desired_tags=tags, plan=snapshots[seed.provider], progress={}, last_error=None,
            attempts=0, next_attempt_at=seed.next_attempt_at, lease_owner=None, lease_until=None,
            version=0))
        member_rows.append(dict(sandbox_id=sandbox_id, email=seed.owner, role="owner",
                                added_at=seed.created_at))
    with engine.begin() as conn:
        for start in range(0, len(sandbox_rows), chunk):
            conn.execute(insert(Sandbox.__table__), sandbox_rows[start:start + chunk])
        for start in range(0, len(member_rows), chunk):
            conn.execute(insert(Member.__table__), member_rows[start:start + chunk])
    if analyze and engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE sandbox")
            conn.exec_driver_sql("VACUUM ANALYZE member")
    return ids


def history_seeds(count: int, now: datetime, rng: random.Random, *, users: int = 2000,
                  active_share: float = 0.2) -> list[Seed]:
    """`count` rows no sweep has anything to do for: years of ended sandboxes plus live ones
    far from their deadlines (the shape of a program that has run for a while)."""
    seeds = []
    for i in range(count):
        provider = "aws" if i % 2 else "gcp"
        owner = f"user{rng.randrange(users):05d}@example.com"
        roll = rng.random()
        created = now - timedelta(days=rng.uniform(10, 700))
        if roll < active_share:  # live, expiring in 5 to 30 days: outside every warning window
            seeds.append(Seed(provider, owner, "active", now - timedelta(days=rng.uniform(1, 20)),
                              now + timedelta(days=rng.uniform(5, 30)), cloud_id=_fake_cloud_id(provider, i)))
        elif roll < active_share + 0.03:  # frozen, grace period not over
            seeds.append(Seed(provider, owner, "frozen", created, now - timedelta(days=1),
                              cloud_id=_fake_cloud_id(provider, i), frozen_at=now - timedelta(days=1),
                              delete_after=now + timedelta(days=rng.uniform(1, 6))))
        elif roll < active_share + 0.05:  # waiting for an admin's approval
            seeds.append(Seed(provider, owner, "requested", now - timedelta(hours=rng.uniform(1, 48)),
                              now + timedelta(days=14), next_attempt_at=now - timedelta(hours=1),
                              approval_required=True))
        elif roll < active_share + 0.07:
            seeds.append(Seed(provider, owner, "denied", created, created + timedelta(days=14)))
        elif roll < active_share + 0.08:
            seeds.append(Seed(provider, owner, "failed", created, created + timedelta(days=7)))
        else:  # ended
            expired = created + timedelta(days=7)
            seeds.append(Seed(provider, owner, "deleted", created, expired, cloud_id=_fake_cloud_id(provider, i),
                              frozen_at=expired, delete_after=expired + timedelta(days=3),
                              deleted_at=expired + timedelta(days=3)))
    return seeds


def _fake_cloud_id(provider: str, i: int) -> str:
    return f"9{i:011d}" if provider == "aws" else f"hist-{i:08d}"


# ---- counting ----------------------------------------------------------------------------

class StatementCounter:
    """SQL statements the engine sends (before_cursor_execute; an executemany counts once).

    With `timed`, also the seconds each distinct statement text took in total (until
    after_cursor_execute: the database's work plus the driver's), for finding the one that
    grows: `slowest()`."""

    def __init__(self, engine: Any, timed: bool = False):
        from sqlalchemy import event

        self.engine = engine
        self.timed = timed
        self.count = 0
        self.kinds: dict[str, int] = {}
        self.seconds: dict[str, list] = {}
        event.listen(engine, "before_cursor_execute", self._seen)
        if timed:
            event.listen(engine, "after_cursor_execute", self._done)

    def _seen(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        kind = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if self.timed:
            conn.info["bench_started"] = time.perf_counter()

    def _done(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info.pop("bench_started", None)
        if started is not None:
            entry = self.seconds.setdefault(" ".join(statement.split()), [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    @property
    def total_seconds(self) -> float:
        return sum(seconds for _count, seconds in self.seconds.values())

    def slowest(self, n: int = 5) -> list[dict[str, Any]]:
        top = sorted(self.seconds.items(), key=lambda item: -item[1][1])[:n]
        return [{"sql": sql[:400], "count": count, "seconds": round(seconds, 4)} for sql, (count, seconds) in top]

    def reset(self) -> None:
        self.count = 0
        self.kinds = {}
        self.seconds = {}

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._seen)
        if self.timed:
            event.remove(self.engine, "after_cursor_execute", self._done)


class BackendCpu:
    """CPU seconds the PostgreSQL server spent for one database while in the block: its
    backends (`postgres: ... DBNAME ...` processes on this machine) sampled from /proc every
    20 ms, so that those a pool opens and closes meanwhile are counted too (up to their last
    sample). Needs the server on this machine and /proc readable; else `seconds` stays None."""

    def __init__(self, database: str):
        import threading

        self.database = database
        self.seconds: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def _backends(self) -> dict[int, float]:
        found = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                if not cmdline.startswith(b"postgres: ") or f" {self.database} ".encode() not in cmdline:
                    continue
                # Nanoseconds on the CPU (the first field), finer than /proc/PID/stat's ticks.
                on_cpu = int(Path(f"/proc/{entry.name}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            found[int(entry.name)] = on_cpu / 1e9
        return found

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._last.update(self._backends())

    def __enter__(self) -> "BackendCpu":
        self._start = self._backends()
        self._last = dict(self._start)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(self._backends())
        if self._last:
            self.seconds = round(sum(v - self._start.get(pid, 0.0) for pid, v in self._last.items()), 3)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server the benchmark starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chunked(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def run_quiet(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process; its output is discarded, a failure raises.

    CPU time (user + system, from wait4) is reported beside wall time: on a shared machine
    it moves less with other processes' load."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    stderr = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {stderr.decode()[-500:]}")
    return seconds, usage.ru_utime + usage.ru_stime


def run_in_terminal(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                    size: tuple[int, int] = (40, 120)) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, what it showed) of one fresh process whose stdout is a
    pseudo-terminal of `size` (rows, columns), as a user's shell gives it: isatty() is
    true and the width comes from the terminal (TIOCGWINSZ), not from $COLUMNS."""
    import fcntl
    import pty
    import struct
    import termios

    env = {k: v for k, v in (env or os.environ).items() if k not in ("COLUMNS", "LINES")}
    env.setdefault("TERM", "xterm-256color")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    started = time.perf_counter()
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE,
                                   env=env, cwd=cwd)
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            shown += chunk
        stderr = process.stderr.read()
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {stderr.decode()[-500:]}")
    return seconds, usage.ru_utime + usage.ru_stime, shown.decode(errors="replace")
