"""GCP names and labels are deterministic across processes, not just within one (issue 16).

A retry finds the project an interrupted step created by its id, and the tags job compares
labels with what it would set: both run in other processes (a daemon restarted, a second
replica) than the one that made them. So each value is computed here and in fresh
interpreters with different PYTHONHASHSEEDs (where a per-process `hash()` or set order
would differ), compared, and pinned to hard-coded values for a few inputs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.cli.conftest import ROOT

LONG_EMAIL = "a" * 70 + "@example.com"
LONG_ADDRESS = "firstname.middlename.lastname.with.a.very.long.address@subdivision.example.com"
SCRIPT = f"""
import json
from sandbox.providers.gcp.naming import (display_name_for, fit_labels, label_key, label_value,
                                          project_id_for, sanitize_labels)

names = ["alice-1a2b3c4d", "Alice.Smith-1a2b3c4d", "firstname.middlename.lastname-0a1b2c3d",
         "xgoognullley-deadbeef", "42-1a2b3c4d", "team-project-without-any-suffix-at-all",
         "load-test-" + "b" * 30 + "-ffffffff"]
values = [{LONG_EMAIL!r}, {LONG_ADDRESS!r}, "x" * 200, "2026-12-05T10:30:00+01:00", "Sandbox Teams"]
keys = ["K" * 70, "cost-center", "1st", "aws:createdBy"]
tags = {{"Owner": {LONG_ADDRESS!r}, "expires-at": "2026-12-05T09:00:00+00:00", "note": "x" * 200,
         **{{f"extra-{{i}}": str(i) for i in range(20)}}}}
current = {{f"z{{i:02d}}": "v" for i in range(64)}}
labels, dropped = fit_labels(current, sanitize_labels({{"sandbox-id": "1a2b3c4d", "owner": "x"}}), keep=("z63",))
print(json.dumps({{
    "project_ids": [project_id_for(n) for n in names],
    "display_names": [display_name_for(n, project_id_for(n)) for n in names],
    "label_values": [label_value(v) for v in values],
    "label_keys": [label_key(k) for k in keys],
    "labels": list(sanitize_labels(tags).items()),
    "fitted": [sorted(labels.items()), sorted(dropped.items())],
}}, sort_keys=True))
"""


def compute_in_subprocess(seed: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def compute_here(capsys) -> dict:
    exec(compile(SCRIPT, "<naming>", "exec"), {})
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def elsewhere() -> list[dict]:
    return [compute_in_subprocess(seed) for seed in ("1", "2", "4242")]


def test_every_name_and_label_is_the_same_in_other_processes(elsewhere, capsys):
    here = compute_here(capsys)

    for other in elsewhere:
        assert other == here


def test_project_ids_and_display_names_are_pinned(elsewhere, capsys):
    here = compute_here(capsys)

    assert here["project_ids"] == [
        "alice-1a2b3c4d", "alice-smith-1a2b3c4d", "firstname-middlename-0a1b2c3d", "xy-deadbeef",
        "u42-1a2b3c4d", "team-project-without-any-suffi", "load-test-bbbbbbbbbbb-ffffffff"]
    assert here["display_names"][:3] == ["alice-1a2b3c4d", "Alice-Smith-1a2b3c4d",
                                         "firstname-middlename-lastname-"]
    assert elsewhere[0]["project_ids"] == here["project_ids"]


def test_shortened_labels_end_in_the_sha256_of_the_original(elsewhere, capsys):
    here = compute_here(capsys)
    sha = hashlib.sha256(LONG_EMAIL.encode()).hexdigest()[:8]

    assert sha == "20e6f1a7"  # the documented rule: 54 characters, "-", 8 hex of its SHA-256
    assert here["label_values"][:2] == [
        "a" * 54 + "-20e6f1a7", "firstname-middlename-lastname-with-a-very-long-address-3b467fca"]
    assert here["label_values"][3:] == ["2026-12-05t09-30-00z", "sandbox-teams"]
    assert here["label_keys"] == ["k" * 54 + "-a77518a2", "cost-center", "k-1st", "aws-createdby"]
    assert dict(here["labels"])["owner"] == "firstname-middlename-lastname-with-a-very-long-address-3b467fca"
    assert [key for key, _value in here["fitted"][1]] == ["z61", "z62"]  # the last in key order give way
    for other in elsewhere:
        assert other["label_values"] == here["label_values"] and other["labels"] == here["labels"]
