#!/usr/bin/env python3
"""Mutation testing (issue 16) with mutmut 3.x, module by module, on a copy of the tree.

    .venv/bin/pip install 'mutmut>=3.8,<4'
    .venv/bin/python scripts/mutation.py                 # every module below
    .venv/bin/python scripts/mutation.py gcp-naming      # one or more of them, by name
    .venv/bin/python scripts/mutation.py --list          # the module names and their tests

Not run in CI: slow (minutes per module). Nothing in the working tree is touched: each
module gets its own copy under $MUTATION_DIR (default /tmp/sandbox-mutation/<name>), laid
out as the installed package is (providers/ → sandbox/providers/, emulators/,
templates/ → sandbox/builtin_templates/, migrations/), because mutmut names a mutant after
its file path and the tests import `sandbox.providers...`. The copy comes first on
PYTHONPATH, ahead of the venv's editable install. mutmut runs with one worker
(--max-children 1; override with MUTATION_CHILDREN) and only the tests listed for the
module (of those, only the ones that reach each mutated function). Tests needing
PostgreSQL use $SANDBOX_TEST_PG_URL (default 127.0.0.1:5432), as the suite does.

Prints one table: mutants, killed (a test failed or it timed out), survived (tests pass
with the mutant), no tests (no listed test reaches it), kill rate = killed / mutants.
Survivors are listed after the table; `cd <copy> && mutmut show <name>` shows a diff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = Path(os.environ.get("MUTATION_DIR", "/tmp/sandbox-mutation"))
CHILDREN = os.environ.get("MUTATION_CHILDREN", "1")

# name → (file as laid out in the copy, test files that exercise it)
MODULES: dict[str, tuple[str, list[str]]] = {
    "gcp-naming": ("sandbox/providers/gcp/naming.py", [
        "tests/providers_gcp/test_naming.py",
    ]),
    "core-naming": ("sandbox/naming.py", [
        "tests/core/test_naming_durations.py",
        "tests/hostile/test_names_and_emails.py",
    ]),
    "secrets": ("sandbox/secrets.py", [
        "tests/security/test_keys.py",
        "tests/security/test_secrets.py",
    ]),
    "lifecycle": ("sandbox/lifecycle.py", [
        "tests/core/test_lifecycle.py",
        "tests/core/test_transitions.py",
        "tests/core/test_event_times.py",
    ]),
}

# Top-level directories that the installed package has inside `sandbox/`.
LAYOUT = {"providers": "providers", "emulators": "emulators", "templates": "builtin_templates",
          "migrations": "migrations"}
EXCLUDE = {".git", ".venv", "mutants", "__pycache__", "sandbox_cloud.egg-info", ".pytest_cache",
           ".mypy_cache", "out"}


def copy_tree(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns(*EXCLUDE)
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    for top, inside in LAYOUT.items():
        shutil.move(str(dest / top), str(dest / "sandbox" / inside))


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def configure(dest: Path, target: str, tests: list[str]) -> None:
    """The copy's pyproject.toml gains a [tool.mutmut] for this one module."""
    config = f"""

[tool.mutmut]
source_paths = ["sandbox/"]
only_mutate = ["{target}"]
also_copy = ["cli.py", "config.example.toml", "bench/"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "-q"]
pytest_add_cli_args_test_selection = {toml_list(tests)}
use_git_change_detection = false
"""
    with (dest / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(config)


def env_for(dest: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(dest)
    env.pop("PYTHONHASHSEED", None)
    return env


def mutmut() -> str:
    exe = Path(sys.executable).with_name("mutmut")
    if not exe.exists():
        sys.exit(f"mutmut is not installed next to {sys.executable}: pip install 'mutmut>=3.8,<4'")
    return str(exe)


def check_import(dest: Path) -> None:
    out = subprocess.run([sys.executable, "-c", "import sandbox.providers.gcp.naming as n, sandbox;"
                          "print(sandbox.__file__); print(n.__file__)"],
                         cwd=dest, env=env_for(dest), capture_output=True, text=True, check=True).stdout
    if any(not line.startswith(str(dest)) for line in out.split()):
        sys.exit(f"the copy at {dest} is not what gets imported:\n{out}")


def run_module(name: str) -> dict:
    target, tests = MODULES[name]
    dest = BASE / name
    copy_tree(dest)
    configure(dest, target, tests)
    check_import(dest)
    log = dest / "mutmut.log"
    print(f"[{name}] mutating {target} with {' '.join(tests)} (log: {log})", flush=True)
    with log.open("w") as out:
        run = subprocess.run([mutmut(), "run", "--max-children", CHILDREN], cwd=dest, env=env_for(dest),
                             stdout=out, stderr=subprocess.STDOUT)
    results = subprocess.run([mutmut(), "results", "--all", "true"], cwd=dest, env=env_for(dest),
                             capture_output=True, text=True).stdout
    status = {}
    for line in results.splitlines():
        if ": " in line:
            mutant, _, verdict = line.strip().rpartition(": ")
            status[mutant] = verdict
    if run.returncode != 0 or not status:
        print(f"[{name}] mutmut run exited {run.returncode}; see {log}", flush=True)
    counts = Counter(status.values())
    return {"name": name, "target": target, "dir": dest, "status": status, "counts": counts}


def natural(mutant: str) -> tuple[str, int]:
    """x_fit__mutmut_9 before x_fit__mutmut_10."""
    head, _, number = mutant.rpartition("_")
    return (head, int(number)) if number.isdigit() else (mutant, 0)


def table(rows: list[dict]) -> str:
    lines = ["| module | mutants | killed | survived | no tests | kill rate |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        c = row["counts"]
        total = sum(c.values())
        killed = c["killed"] + c["timeout"]
        rate = f"{100 * killed / total:.1f}%" if total else "-"
        lines.append(f"| {row['target']} | {total} | {killed} | {c['survived']} | {c['no tests']} | {rate} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if "--list" in argv:
        for name, (target, tests) in MODULES.items():
            print(f"{name}: {target} <- {' '.join(tests)}")
        return 0
    names = argv or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        sys.exit(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    rows = [run_module(name) for name in names]
    print()
    print(table(rows))
    for row in rows:
        left = sorted((m for m, v in row["status"].items() if v not in ("killed", "timeout")), key=natural)
        if left:
            print(f"\n{row['target']}: not killed ({len(left)}); diff: cd {row['dir']} && mutmut show NAME")
            for mutant in left:
                print(f"  {mutant}: {row['status'][mutant]}")
    short = [r for r in rows if sum(r["counts"].values())
             and (r["counts"]["killed"] + r["counts"]["timeout"]) / sum(r["counts"].values()) < 0.9]
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
