"""Report files: checking where one may go, and writing it so that no partial file is ever seen."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sandbox.errors import UsageError


def check_out(out: str | os.PathLike | None, html: bool) -> Path | None:
    """The file must be creatable in an existing, writable directory (checked before any query)."""
    if out is None or str(out).strip() == "":
        if html:
            raise UsageError("--format html writes a file: add --out FILE, e.g. --out report.html")
        return None
    path = Path(out).expanduser()
    if path.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name, e.g. {path / 'report.html'}")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--out {out}: not writable by you; choose another path")
    return path


def write_atomic(path: Path, content: str) -> Path:
    """A temporary file in the target directory, fsynced, then renamed over the target:
    readers see the old file or the whole new one, and a failure leaves nothing behind."""
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; a report file is an ordinary file
        os.replace(temp, path)
    except OSError as exc:
        _discard(temp)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _discard(temp)
        raise
    return path


def _discard(temp: str) -> None:
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
