"""Writing a file so that no partial file is ever seen (reports, downloaded reports)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sandbox.errors import UsageError


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
