"""Getting started without a config: `sandbox init` writes a commented starter sandbox.toml
and a key file, and a local request on the built-in defaults says in one line what they lack.

The built-in defaults (no config file) hold a database and a department, not who you are
(<login>@localhost is no e-mail address) nor a secrets key: those two are the minimum.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sandbox.errors import ConfigError, SandboxError, UsageError

EMBEDDED = "embedded defaults"  # Settings.source when no config file was found
_DEPARTMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# ---- the minimum, said once -----------------------------------------------------------

def require_local_setup(settings, identity) -> None:
    """Local mode, before a request: who you are must be an e-mail address. On the built-in
    defaults, the one line names both things they lack and the command that writes them."""
    from sandbox.naming import check_email
    from sandbox.secrets import load_key

    try:
        check_email(identity.email)
        return
    except UsageError:
        pass
    if settings.source != EMBEDDED:
        raise ConfigError(f"you are {identity.email!r} here, which is not an e-mail address like alice@example.com: "
                          f"set [identity] email in {settings.source}, or SANDBOX_USER")
    lacking, setting = ["who you are"], ["SANDBOX_USER=you@example.com"]
    if not load_key(settings):
        lacking.append("a secrets key")
        setting.append("SANDBOX_SECRET_KEY=$(sandbox admin generate-key)")
    raise ConfigError(f"no config file (./sandbox.toml, $SANDBOX_CONFIG or --config), and the built-in defaults "
                      f"lack {' and '.join(lacking)}: run sandbox init to write one, or set {' and '.join(setting)}")


# ---- sandbox init ----------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    config: Path
    key_file: Path
    key_created: bool


def check_department(name: str) -> str:
    cleaned = (name or "").strip()
    if not _DEPARTMENT.match(cleaned):
        raise UsageError(f"department {name[:64]!r} must be 1-64 letters, digits, '-' or '_', e.g. engineering")
    return cleaned


def write_starter(path: Path, *, email: str, department: str, key_file: Path | None = None,
                  clouds: list[str] | None = None) -> Written:
    """Write `path` (never over an existing file) and, unless it exists already, a new key
    file beside it (mode 0600). An existing key file is kept: it may encrypt stored secrets."""
    from sandbox.config import parse_settings
    from sandbox.naming import check_email
    from sandbox.provider import clouds as installed
    from sandbox.secrets import generate_key

    email = check_email(email)
    department = check_department(department)
    known = installed()
    chosen = list(dict.fromkeys(clouds or known))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UsageError(f"--cloud {unknown[0]!r} is not an installed cloud; choose from: {', '.join(known)}")
    path = path.expanduser().absolute()
    if path.exists():
        raise SandboxError(f"{path} exists; sandbox init never overwrites a config: edit it, or give another --path")
    if not path.parent.is_dir():
        raise UsageError(f"directory {path.parent} does not exist; create it first")
    key_path = (key_file or path.with_name("sandbox.key")).expanduser().absolute()
    text = starter_text(path, email=email, department=department, key_file=key_path,
                        clouds={name: known[name] for name in chosen})
    parse_settings(tomllib.loads(text), str(path))  # what we write must load
    key_created = not key_path.exists()
    if key_created:
        _create_private(key_path, generate_key() + "\n")
    try:
        with open(path, "x", encoding="utf-8") as handle:  # "x": a file made meanwhile is not overwritten
            handle.write(text)
    except OSError as exc:
        if key_created:
            key_path.unlink(missing_ok=True)
        raise SandboxError(f"cannot write {path}: {exc.strerror or exc}") from None
    return Written(path, key_path, key_created)


def _create_private(path: Path, content: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SandboxError(f"cannot create the key file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(path, 0o600)  # whatever the umask said


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def starter_text(path: Path, *, email: str, department: str, key_file: Path, clouds: dict) -> str:
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [
        f"# Sandbox Cloud configuration, written by `sandbox init` on {today}. Every key is",
        "# documented in config.example.toml; an unknown key or a wrong type stops the tool",
        "# with a message naming it. The values below are what a start needs; the rest keep",
        "# their defaults.",
        "",
        "[database]",
        "# Any SQLAlchemy URL; for several users and replicas use PostgreSQL, e.g.",
        '# url = "postgresql+psycopg://sandbox:PASSWORD@db.internal:5432/sandbox"',
        f"url = {_q('sqlite:///' + str(path.with_name('sandbox.db')))}",
        "",
        "[secrets]",
        "# The key that encrypts console passwords and access keys at rest (mode 0600). Keep",
        "# a copy somewhere safe: without it stored credentials cannot be read. The",
        "# environment's SANDBOX_SECRET_KEY wins over it.",
        f"key_file = {_q(str(key_file))}",
        "",
        "[identity]",
        "# Local mode (the operator on the server's host): who you are. SANDBOX_USER and",
        "# SANDBOX_DEPARTMENT win. A server never reads this: its callers are their tokens.",
        f"email = {_q(email)}",
        f"department = {_q(department)}",
        "",
        "[admin]",
        "# May run the daemon and bootstrap, approve requests, retry failed sandboxes.",
        f"users = [{_q(email)}]",
        "",
        "[quotas]",
        "max_live_per_user = 3   # live sandboxes per person; 0: no limit",
        "",
        f"[departments.{_q(department)}]",
        "# Where its sandboxes go, under each cloud's active OU / folder.",
        *(f"{cloud.placement_key} = {_q(department)}" for cloud in clouds.values()),
        "",
        "# A cloud is on when its table is here (drop one to run only the others). An empty",
        "# table means its defaults: the real cloud, with the standard credentials. Its keys",
        "# (an endpoint for the local emulator, `sandbox emulator NAME`, the OU or folder",
        "# paths, ...) are in config.example.toml.",
    ]
    for name, cloud in clouds.items():
        lines += ["", f"[{name}]", f"# {cloud.title}: see [{name}] in config.example.toml"]
    return "\n".join(lines) + "\n"
