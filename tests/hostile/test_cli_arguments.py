"""Random command lines: a vocabulary of the real commands and flags, mixed with random
text. Every one ends in success or one line on stderr with a non-zero exit, and a failing
one leaves every table as it was (a refusal adds only its own audit event)."""

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.durations import parse_duration
from sandbox.errors import UsageError
from sandbox.output import one_line
from tests.cli.conftest import ROOT
from tests.hostile.conftest import USERS, check_outcome, fuzz

# Long-running commands (daemon, emulators) and cloud calls (--wait, bootstrap) are left
# out: they are exercised with real emulators elsewhere.
COMMANDS = [
    [], ["request"], ["list"], ["show"], ["events"], ["credentials"], ["extend"], ["destroy"],
    ["admin"], ["admin", "approve"], ["admin", "deny"], ["admin", "retry"], ["admin", "generate-key"],
    ["admin", "rotate-key"], ["templates"], ["templates", "list"], ["templates", "show"],
    ["templates", "validate"], ["db"], ["db", "upgrade"], ["report"], ["nope"],
]
FLAGS = [
    "--ttl", "--member", "--output", "-o", "--all", "--state", "--by", "--yes", "--reason", "--since",
    "--until", "--group-by", "--format", "--out", "--days", "--sandbox", "--actor", "--action",
    "--help", "--version", "--new-key-file", "--config", "-h", "--", "-", "--no-such-flag",
]
VALUES = [
    "aws-individual", "aws-group", "gcp-individual", "gcp-group", "json", "table", "csv", "html",
    "3d", "12h", "0d", "1d12h", "99999999999d", "-1d", "usage", "cost", "expiring", "compliance",
    "audit", "owner", "department", "2026-01-01", "2026-02-30", "1999-12-31", "requested", "active",
    "alice@example.com", "bob@example.com", "x'); DROP TABLE sandbox;--@example.com", "ffffffff",
    "0", "a", "%", "_", "report.html", "../escape.csv", "-1", "1e9", "NaN",
]
# Text a shell can pass: anything but NUL (argv is C strings) and lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


def argv_strategy(ids):
    token = st.one_of(st.sampled_from(FLAGS), st.sampled_from(VALUES), TEXT,
                      st.sampled_from(ids), st.integers(-10**12, 10**12).map(str))
    return st.tuples(st.sampled_from(COMMANDS), st.lists(token, max_size=6)).map(lambda t: [*t[0], *t[1]])


BUILTIN = ["aws-group", "aws-individual", "gcp-group", "gcp-individual"]
LIST_HEADER = "id\tname\tprovider\ttemplate\towner\tstate\tcloud_id\texpires_at"


def check_bare_command(argv: list[str], stdout: str) -> None:
    """The exact output of the commands a random line most often reduces to (piped: tabs)."""
    lines = stdout.splitlines()
    if argv == ["list"]:
        assert lines[0] == LIST_HEADER and all(len(line.split("\t")) == 8 for line in lines[1:]), stdout
    elif argv in (["templates"], ["templates", "list"]):
        assert lines[0].startswith("name\tprovider\tkind\t") and [line.split("\t")[0] for line in lines[1:]] == BUILTIN
    elif argv == ["templates", "validate"]:
        assert [re.sub(r"^ok: .*/(.+)\.toml \((aws|gcp), (individual|group)\)$", r"\1", line) for line in lines] == BUILTIN
    elif argv == ["admin", "generate-key"]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}=\n", stdout), stdout
    elif argv == ["db", "upgrade"]:
        assert re.fullmatch(r"database at revision \d{4}\n", stdout), stdout


def test_random_command_lines_end_cleanly(runner):
    alice = runner.json("request", "gcp-individual")
    bob = runner.json("request", "aws-group", user="bob@example.com")
    ids = [alice["id"], bob["id"], alice["id"][:3], bob["name"]]

    @fuzz(100)
    @given(argv=argv_strategy(ids), user=st.sampled_from(USERS))
    def run(argv, user):
        result = runner.attempt(*argv, user=user)
        if result.returncode == 0:
            check_bare_command(argv, result.stdout)

    run()


@fuzz(40)
@given(ttl=st.one_of(TEXT, st.from_regex(r"\A-?\d{0,12}[smhdwy]?(\d{0,4}[smhdw])?\Z")))
def test_random_ttl_is_a_request_or_a_one_line_refusal(runner, ttl):
    """gcp-individual allows 1h to 30d: the outcome is the one the duration rules predict."""
    try:
        lifetime = parse_duration(ttl, "--ttl")
        refusal = None
    except UsageError as exc:
        refusal = f"error: {one_line(exc)}"

    result = runner.attempt("request", "gcp-individual", "--ttl", ttl, "-o", "json")

    if refusal is not None:
        assert (result.returncode, result.stderr.strip()) == (2, refusal)
        return
    days = lifetime.total_seconds() / 86400
    if days < 1 / 24 or days > 30:
        assert result.returncode == 2, result.stdout
        assert result.stderr.startswith("error: --ttl ") and ("shorter than" in result.stderr) == (days < 1 / 24)
        return
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    lived = datetime.fromisoformat(view["expires_at"]) - datetime.fromisoformat(view["created_at"])
    assert (view["template"], view["state"], view["owner"], lived) == (
        "gcp-individual", "requested", "alice@example.com", lifetime)
    runner("destroy", view["id"], "--yes", check=True)


@fuzz(40)
@given(by=st.one_of(TEXT, st.from_regex(r"\A\d{0,8}[smhdw]\Z")))
def test_random_extension_is_refused_in_one_line(runner, by):
    # No sandbox has this id whatever --by says; the duration is checked first, so a bad
    # one is what the refusal names, a good one gets "not found".
    try:
        parse_duration(by, "--by")
        expected = "error: no sandbox with id 'ffffffff'; see: sandbox list --all"
    except UsageError as exc:
        expected = f"error: {one_line(exc)}"

    result = runner.attempt("extend", "ffffffff", "--by", by)

    assert (result.returncode, result.stdout, result.stderr.strip()) == (2, "", expected)


@pytest.mark.parametrize("args", [
    ["show", b"\xff\xfe"], ["report", "audit", "--actor", b"\xff"], ["request", "gcp-individual", "--ttl", b"\xff"],
    ["templates", "validate", b"\xff.toml"], ["admin", "deny", "ffffffff", "--reason", b"caf\xe9"],
])
def test_bytes_that_are_not_utf8_are_refused_in_one_line(runner, args):
    """Only a real process gets raw bytes in argv (Python turns them into surrogates)."""
    argv = [os.fsencode(sys.executable), os.fsencode(ROOT / "cli.py"), b"--config", os.fsencode(runner.config),
            *[a if isinstance(a, bytes) else a.encode() for a in args]]
    before = runner.counts()
    done = subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "SANDBOX_USER": "admin@example.com"})
    result = SimpleNamespace(returncode=done.returncode, stdout=done.stdout.decode(errors="replace"),
                             stderr=done.stderr.decode(errors="replace"), exception=None)
    result.output = result.stdout + result.stderr
    check_outcome(result, args)
    assert result.returncode == 2 and "is not UTF-8 text" in result.stderr
    assert runner.counts() == before
