"""mypy is clean over sandbox/ and providers/ ([tool.mypy] in pyproject.toml).

The checkout keeps providers/, emulators/, templates/ and migrations/ at the top, but they
install inside the `sandbox` package ([tool.setuptools.package-dir]); the editable
install maps them with an import hook mypy does not follow. So mypy runs on a staged tree
with the installed layout, made of symlinks: the files it reports are the real ones.
"""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"


def stage_installed_layout(stage: Path) -> dict[str, str]:
    """Symlink the checkout into `stage` as it installs; returns {staged folder: checkout folder}
    for the packages that live elsewhere in the checkout."""
    package_dir = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-dir"]
    top = stage / "sandbox"
    top.mkdir()
    for entry in (ROOT / package_dir["sandbox"]).iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    mapping = {}
    for package, source in package_dir.items():
        if package != "sandbox":
            staged = Path(*package.split("."))
            (stage / staged).symlink_to(ROOT / source)
            mapping[f"{staged}/"] = f"{source}/"
    return mapping


def test_mypy_is_clean(tmp_path):
    mapping = stage_installed_layout(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(PYPROJECT), "--python-executable", sys.executable,
         "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "sandbox"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    hint = "\n".join(f"  {staged:<28} is {source}" for staged, source in mapping.items())
    assert done.returncode == 0, f"mypy found errors; its paths, in the checkout:\n{hint}\n\n{done.stdout}{done.stderr}"
