"""Benchmark 1, CLI latency: `sandbox --help` and `sandbox list` over 10,000 sandboxes in SQLite.

    .venv/bin/python bench/cli_latency.py [--runs 15] [--sandboxes 10000] [--instructions]
                                          [--compare SANDBOX] [--json FILE]

Each command is a fresh process (subprocess of .venv/bin/sandbox), run --runs times; the
table shows the median wall time, and CPU time beside it. `sandbox list` runs twice per
round: piped (stdout to /dev/null: what a script sees, tab-separated lines) and in a
terminal (stdout a pseudo-terminal 120 columns wide whose size the process reads from the
terminal, as in a shell: the drawn table). References run in the same rounds, all in a
shuffled order each round so that load from other processes hits them alike:
  floor  `.venv/bin/python -c "import sqlmodel"`: what any SQLModel CLI pays before work,
         piped and in a terminal (a process writing to a pty costs a little more whatever
         it prints, so the terminal `list` is compared with the terminal floor)
  aws    `aws --version`: the AWS CLI (PATH, a pyenv shim resolved to its real script, or a
         throwaway venv at bench/.venv-awscli made with `pip install awscli` if none)
"Cold" means a new interpreter each time; the OS page cache and the .pyc files are warm
(two untimed warm-up rounds), as they are for a user typing commands. --compare runs
another `sandbox` entry point's `list` in the same rounds (a checkout before a change);
--instructions also counts each command's instructions once under valgrind's callgrind,
which no other process's load moves.

The database: a migrated SQLite file with --sandboxes rows inserted in bulk. The listing
user (alice@example.com) owns 3 live sandboxes and 7 ended ones among them; `sandbox list`
shows a user's live sandboxes (owned or shared), so it prints those 3 rows; the other
rows belong to 2,000 other users, 20% of them live.

Targets: --help < 0.25 × aws --version; list <= 1.3 × the floor, piped and in a terminal
(the terminal `list` against the terminal floor). The script exits 1 when either `list`
target is missed, 0 when both are met.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

LISTING_USER = "alice@example.com"
HELP_TARGET = 0.25
LIST_TARGET = 1.3


def find_aws_cli(install: bool = True) -> list[str]:
    """The real `aws` entry point (a pyenv shim costs an extra bash and pyenv start-up)."""
    explicit = os.environ.get("BENCH_AWS_CLI")
    if explicit:
        return [explicit]
    venv_aws = c.ROOT / "bench" / ".venv-awscli" / "bin" / "aws"
    if venv_aws.exists():
        return [str(venv_aws)]
    found = shutil.which("aws")
    if found and "/shims/" in found:
        real = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True)
        if real.returncode == 0 and real.stdout.strip():
            found = real.stdout.strip()
    if found:
        return [found]
    if not install:
        raise SystemExit("no aws CLI found")
    print("no aws on PATH: installing awscli into bench/.venv-awscli (not a project dependency)")
    subprocess.run([sys.executable, "-m", "venv", str(venv_aws.parent.parent)], check=True)
    subprocess.run([str(venv_aws.parent / "pip"), "install", "-q", "awscli"], check=True)
    return [str(venv_aws)]


def instructions(argv: list[str], env: dict[str, str], cwd: Path, terminal: bool) -> int:
    """Instructions one run executes (valgrind's callgrind): the same on a busy machine and
    an idle one, so a ratio of two of them does not move with other processes' load."""
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-callgrind-") as tmp:
        log = Path(tmp) / "log"
        wrapped = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", f"--log-file={log}", *argv]
        if terminal:
            c.run_in_terminal(wrapped, env=env, cwd=cwd)
        else:
            c.run_quiet(wrapped, env=env, cwd=cwd)
        collected = [line for line in log.read_text().splitlines() if "Collected :" in line]
        return int(collected[-1].split(":")[-1].strip())


def build_database(directory: Path, total: int) -> tuple[Path, int]:
    """The SQLite file and config; returns (config path, rows alice's `list` should show)."""
    from sandbox.db import make_engine

    url = c.sqlite_database(directory / "sandbox.db")
    settings = c.bench_settings(url)
    now = datetime.now(timezone.utc)
    rng = random.Random(42)
    mine = [c.Seed("aws" if i % 2 else "gcp", LISTING_USER, "active", now - timedelta(days=i + 1),
                   now + timedelta(days=10 + i), cloud_id=f"10000000000{i}") for i in range(3)]
    mine += [c.Seed("aws", LISTING_USER, "deleted", now - timedelta(days=100 + i), now - timedelta(days=90 + i),
                    deleted_at=now - timedelta(days=87 + i)) for i in range(7)]
    seeds = mine + c.history_seeds(total - len(mine), now, rng)
    rng.shuffle(seeds)
    engine = make_engine(url)
    c.seed_sandboxes(engine, settings, seeds, rng=rng)
    engine.dispose()
    config = directory / "sandbox.toml"
    config.write_text(c.settings_toml({"database": {"url": url}, "identity": {"email": LISTING_USER}}))
    return config, 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command (default 15)")
    parser.add_argument("--sandboxes", type=int, default=10_000, help="rows in the database (default 10000)")
    parser.add_argument("--quick", action="store_true", help="5 runs")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--instructions", action="store_true",
                        help="also count each command's instructions once under valgrind (callgrind)")
    parser.add_argument("--compare", metavar="SANDBOX", help="another `sandbox` entry point (a checkout before a "
                        "change, say) whose `list` runs in the same rounds")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else args.runs

    aws = find_aws_cli()
    # $BENCH_SANDBOX_CLI: another `sandbox` entry point to measure (a checkout before a change, say).
    sandbox = os.environ.get("BENCH_SANDBOX_CLI") or str(c.VENV_BIN / "sandbox")
    python = str(c.VENV_BIN / "python")
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-cli-") as tmp:
        config, expected = build_database(Path(tmp), args.sandboxes)
        env = {**os.environ, "SANDBOX_CONFIG": str(config)}
        env.pop("SANDBOX_USER", None)
        # A user's Python writes .pyc files: without them (PYTHONDONTWRITEBYTECODE, set in
        # some CI and sandboxed shells) every changed module is compiled again in every run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        listing = subprocess.run([sandbox, "list", "-o", "json"], env=env, capture_output=True, text=True)
        shown = listing.stdout.count('"id":')
        if listing.returncode or shown != expected:
            raise SystemExit(f"sandbox list showed {shown} sandboxes, expected {expected}: {listing.stderr}")
        _, _, drawn = c.run_in_terminal([sandbox, "list"], env=env, cwd=Path(tmp))
        drawn_rows = [line for line in drawn.splitlines() if line.strip()][2:]
        if len(drawn_rows) != expected or "\t" in drawn:
            raise SystemExit(f"sandbox list in a terminal showed {drawn!r}, expected a table of {expected} rows")
        commands = {
            "sandbox --help": [sandbox, "--help"],
            "sandbox list (piped)": [sandbox, "list"],
            "sandbox list (terminal)": [sandbox, "list"],
            "floor: python -c 'import sqlmodel'": [python, "-c", "import sqlmodel"],
            "floor (terminal)": [python, "-c", "import sqlmodel"],
            **({"compare: sandbox list (piped)": [args.compare, "list"],
                "compare: sandbox list (terminal)": [args.compare, "list"]} if args.compare else {}),
            "aws --version": [*aws, "--version"],
            "python -c pass": [python, "-c", "pass"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        rng = random.Random(7)
        for round_ in range(2 + runs):
            order = list(commands)
            rng.shuffle(order)
            for name in order:
                if name.endswith("(terminal)"):
                    seconds, cpu_seconds, _ = c.run_in_terminal(commands[name], env=env, cwd=Path(tmp))
                else:
                    seconds, cpu_seconds = c.run_quiet(commands[name], env=env, cwd=Path(tmp))
                if round_ >= 2:
                    times[name].append(seconds)
                    cpu[name].append(cpu_seconds)
        aws_version = subprocess.run([*aws, "--version"], capture_output=True, text=True)
        counted: dict[str, int] = {}
        if args.instructions:
            for name in commands:
                if name.startswith(("aws", "python -c pass")):
                    continue  # the AWS CLI is a pyenv Python's; the floor is the reference here
                counted[name] = instructions(commands[name], env, Path(tmp), name.endswith("(terminal)"))
    medians = {name: c.median(values) for name, values in times.items()}
    cpu_medians = {name: c.median(values) for name, values in cpu.items()}
    floor, aws_median = medians["floor: python -c 'import sqlmodel'"], medians["aws --version"]
    help_ratio = c.ratio(medians["sandbox --help"], aws_median)
    list_ratio = c.ratio(medians["sandbox list (piped)"], floor)
    # Like with like: a process writing to a pseudo-terminal costs a little more whatever
    # it prints (the floor too), so the terminal figure is against the floor run the same way.
    terminal_floor = medians["floor (terminal)"]
    terminal_ratio = c.ratio(medians["sandbox list (terminal)"], terminal_floor)
    terminal_vs_piped_floor = c.ratio(medians["sandbox list (terminal)"], floor)
    cpu_floor = cpu_medians["floor: python -c 'import sqlmodel'"]
    cpu_aws = cpu_medians["aws --version"]
    rows = []
    for name, value in medians.items():
        rel_aws, rel_floor = c.ratio(value, aws_median), c.ratio(value, floor)
        rows.append([name, round(value * 1000), round(min(times[name]) * 1000), rel_floor, rel_aws,
                     round(cpu_medians[name] * 1000), c.ratio(cpu_medians[name], cpu_floor),
                     c.ratio(cpu_medians[name], cpu_aws)])
    c.print_table(f"CLI latency, median of {runs} fresh processes, {args.sandboxes:,} sandboxes in SQLite "
                  f"(listing user sees {expected})",
                  ["command", "wall median ms", "wall min ms", "× floor", "× aws",
                   "cpu median ms", "cpu × floor", "cpu × aws"], rows)
    if counted:
        floors = {False: counted["floor: python -c 'import sqlmodel'"], True: counted["floor (terminal)"]}
        c.print_table("Instructions (valgrind --tool=callgrind, one run each), against the floor run the same way",
                      ["command", "instructions (M)", "× floor"],
                      [[name, round(n / 1e6), c.ratio(n, floors[name.endswith("(terminal)")])]
                       for name, n in counted.items()])
    help_ok = help_ratio is not None and help_ratio < HELP_TARGET
    list_ok = list_ratio is not None and list_ratio <= LIST_TARGET
    terminal_ok = terminal_ratio is not None and terminal_ratio <= LIST_TARGET
    print(f"\n--help / aws --version     = {help_ratio} (target < {HELP_TARGET}): {'met' if help_ok else 'MISSED'}")
    print(f"list piped / floor         = {list_ratio} (target <= {LIST_TARGET}): {'met' if list_ok else 'MISSED'}")
    print(f"list in a terminal / floor in a terminal = {terminal_ratio} (target <= {LIST_TARGET}): "
          f"{'met' if terminal_ok else 'MISSED'}; / piped floor = {terminal_vs_piped_floor}")
    c.write_json(args.json, {
        "benchmark": "cli_latency", "machine": c.machine(), "sandboxes": args.sandboxes, "runs": runs,
        "listed": expected, "aws_cli": (aws_version.stdout or aws_version.stderr).strip(),
        "median_seconds": medians, "all_seconds": times, "median_cpu_seconds": cpu_medians,
        "all_cpu_seconds": cpu, "instructions": counted,
        "help_vs_aws": help_ratio, "help_target": HELP_TARGET, "help_met": help_ok,
        "list_vs_floor": list_ratio, "list_target": LIST_TARGET, "list_met": list_ok,
        "list_terminal_vs_terminal_floor": terminal_ratio, "list_terminal_vs_piped_floor": terminal_vs_piped_floor,
        "list_terminal_met": terminal_ok,
    })
    # Both `list` targets, piped and in a terminal: a miss of either fails the run (exit 1).
    missed = [name for name, ok in (("list piped", list_ok), ("list in a terminal", terminal_ok)) if not ok]
    if missed:
        print(f"MISSED: {' and '.join(missed)} (target <= {LIST_TARGET} x the floor run the same way)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
