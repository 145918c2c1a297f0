"""Random command lines: a vocabulary of the real commands and flags, mixed with random
text. Every one ends in success or one line on stderr with a non-zero exit, and a failing
one leaves every table as it was (a refusal adds only its own audit event)."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_random_command_lines_end_cleanly(runner):
    alice = runner.json("request", "gcp-individual")
    bob = runner.json("request", "aws-group", user="bob@example.com")
    ids = [alice["id"], bob["id"], alice["id"][:3], bob["name"]]

    @fuzz(100)
    @given(argv=argv_strategy(ids), user=st.sampled_from(USERS))
    def run(argv, user):
        runner.attempt(*argv, user=user)

    run()


@fuzz(40)
@given(ttl=st.one_of(TEXT, st.from_regex(r"\A-?\d{0,12}[smhdwy]?(\d{0,4}[smhdw])?\Z")))
def test_random_ttl_is_a_request_or_a_one_line_refusal(runner, ttl):
    result = runner.attempt("request", "gcp-individual", "--ttl", ttl, "-o", "json")
    if result.returncode == 0:
        runner("destroy", result.stdout.split('"id": "')[1][:8], "--yes", check=True)


@fuzz(40)
@given(by=st.one_of(TEXT, st.from_regex(r"\A\d{0,8}[smhdw]\Z")))
def test_random_extension_is_refused_in_one_line(runner, by):
    # A requested sandbox cannot be extended whatever --by says; the order of the checks
    # (duration first, then state) must never matter for the outcome's shape.
    runner.attempt("extend", "ffffffff", "--by", by)


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
