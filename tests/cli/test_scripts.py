"""The shell scripts a new user runs first: scripts/install.sh and ./demo.sh, each run in a
scratch copy of the checkout with stand-ins for what they call (no network, no servers)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import ROOT


def executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_install_probes_python_versions_quietly_under_pyenv(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install.sh", repo / "scripts" / "install.sh")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    executable(repo / ".venv" / "bin" / "python", "exit 0\n")  # installed already
    stamp = hashlib.sha1((repo / "pyproject.toml").read_bytes()).hexdigest()[:12]
    (repo / ".venv" / f".installed-{stamp}").touch()
    shims = tmp_path / "shims"
    for missing in ("python3.13", "python3.12"):  # what pyenv's shim says for a version not installed
        executable(shims / missing, f"echo 'pyenv: {missing}: command not found' >&2\necho >&2\n"
                                    f"echo \"The \\`{missing}' command exists in these Python versions:\" >&2\n"
                                    "echo '  3.13.1' >&2\nexit 127\n")
    executable(shims / "python3.11", f'exec "{sys.executable}" "$@"\n')

    done = subprocess.run(["bash", str(repo / "scripts" / "install.sh")], capture_output=True, text=True,
                          env={"PATH": f"{shims}:/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""


def demo_checkout(tmp_path: Path) -> Path:
    """demo.sh beside stand-ins: an install script, a venv whose `sandbox` and `python` do nothing."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "demo.sh", repo / "demo.sh")
    executable(repo / "scripts" / "install.sh", "exit 0\n")
    fake = repo / ".venv" / "bin"
    executable(fake / "sandbox", "exit 0\n")
    executable(fake / "python", "exit 0\n")
    (fake / "activate").write_text(f'PATH="{fake}:$PATH"\n')
    return repo


def run_demo(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "demo.sh")], capture_output=True, text=True, cwd=repo,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(repo)}, timeout=120)


def test_demo_run_again_says_it_replaces_the_previous_database(tmp_path):
    repo = demo_checkout(tmp_path)
    first = run_demo(repo)
    assert first.returncode == 0, first.stderr
    assert "previous demo database" not in first.stderr  # nothing to replace on the first run
    (repo / ".demo" / "sandbox.db").write_text("a previous run's sandboxes")

    again = run_demo(repo)

    assert again.returncode == 0, again.stderr
    assert "replacing the previous demo database .demo/sandbox.db" in again.stderr
    assert not (repo / ".demo" / "sandbox.db").exists()
