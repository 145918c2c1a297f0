"""Several writers at once: the quota holds, and one sandbox changed from many sides ends
in one consistent story (each call succeeds or fails with a domain error, the event log
is a legal chain that ends in the row's state, and the cloud agrees)."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import timedelta

import pytest

from sandbox.clock import FrozenClock
from sandbox.errors import SandboxError
from sandbox.service import bootstrap, destroy_sandbox, extend_sandbox, freeze_sandbox, request_sandbox
from sandbox.sweeps import expire_due
from tests.conftest import ADMIN, ALICE
from tests.faults import checks
from tests.faults.conftest import clean_env

QUOTA_ERROR = "error: you already have 3 live sandboxes (limit 3); destroy one first (sandbox list)"


def test_twenty_concurrent_cli_requests_with_a_quota_of_three_let_exactly_three_in(make_pg_stack):
    """Twenty real `sandbox request` processes on PostgreSQL, the database for more than one
    machine (SQLite's BEGIN IMMEDIATE locks the file the same way for threads and processes:
    the threaded test below covers it)."""
    stack = make_pg_stack(quotas={"max_live_per_user": 3})
    direct = stack.app()

    processes = [subprocess.Popen(stack.command("request", "fast", "-o", "json"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=clean_env(), cwd=stack.folder)
                 for _ in range(20)]
    outcomes = [(p.returncode, out, err) for p in processes for out, err in [p.communicate(timeout=180)]]

    accepted = [json.loads(out)["id"] for code, out, _err in outcomes if code == 0]
    refused = [(code, err) for code, _out, err in outcomes if code != 0]
    assert len(accepted) == 3, [err for _code, err in refused if err != QUOTA_ERROR + "\n"]
    assert refused == [(1, QUOTA_ERROR + "\n")] * 17
    assert sorted(s.id for s in checks.sandboxes(direct)) == sorted(accepted)
    assert checks.action_counts(direct, "request") == {sandbox_id: 1 for sandbox_id in accepted}
    checks.assert_lifecycle_legal(direct)


def test_twenty_requests_released_at_one_instant_let_exactly_three_in(make_stack):
    """The same from threads with an App (engine, connections) each, released by a barrier."""
    stack = make_stack(quotas={"max_live_per_user": 3})
    apps = [stack.app(worker_id=f"requester-{n}") for n in range(20)]
    start = threading.Barrier(len(apps))
    outcomes: list = [None] * len(apps)

    def request(n: int) -> None:
        start.wait()
        try:
            outcomes[n] = request_sandbox(apps[n], ALICE, "fast")["id"]
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            outcomes[n] = exc

    threads = [threading.Thread(target=request, args=(n,)) for n in range(len(apps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    accepted = [o for o in outcomes if isinstance(o, str)]
    errors = {f"{type(o).__name__}: {o}" for o in outcomes if not isinstance(o, str)}
    assert len(accepted) == 3, errors
    assert errors == {f"QuotaExceededError: {QUOTA_ERROR.removeprefix('error: ')}"}
    assert sorted(s.id for s in checks.sandboxes(apps[0])) == sorted(accepted)
    checks.assert_lifecycle_legal(apps[0])


ROUNDS = {
    "extend-first": ["extend", "extend", "extend", "freeze", "freeze", "destroy", "destroy"],
    "destroy-first": ["destroy", "freeze", "extend", "destroy", "extend", "freeze", "extend"],
}


@pytest.mark.parametrize("order", ROUNDS)
def test_concurrent_extend_freeze_destroy_of_one_sandbox_end_in_one_consistent_story(order, make_stack, aws_url):
    stack = make_stack()
    clock = FrozenClock()
    direct = stack.app(clock=clock)
    bootstrap(direct, ADMIN, ["aws"])
    sandbox_id = request_sandbox(direct, ALICE, "fast", wait=True)["id"]
    expires_at = checks.sandbox(direct, sandbox_id).expires_at
    operations = ROUNDS[order]
    apps = [stack.app(clock=clock, worker_id=f"writer-{n}") for n in range(len(operations))]
    start = threading.Barrier(len(operations))
    outcomes: list = [None] * len(operations)

    def act(n: int, operation: str) -> None:
        app = apps[n]
        start.wait()
        try:
            if operation == "extend":
                extend_sandbox(app, ALICE, sandbox_id, "1d")
            elif operation == "freeze":
                freeze_sandbox(app, sandbox_id, actor="daemon", reason="budget 100%", cause="budget")
            else:
                assert destroy_sandbox(app, ALICE, sandbox_id)["state"] in ("deleting", "deleted")
            outcomes[n] = "ok"
        except SandboxError as exc:
            outcomes[n] = exc
        except Exception as exc:  # noqa: BLE001 - anything but a domain error is the bug we look for
            outcomes[n] = AssertionError(f"{operation}: not a domain error: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=act, args=(n, op)) for n, op in enumerate(operations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    expire_due(direct)  # a destroy whose teardown lost the race is finished by the daemon

    unexpected = [str(o) for o in outcomes if isinstance(o, AssertionError)]
    assert not unexpected, unexpected
    final = checks.sandbox(direct, sandbox_id)
    checks.assert_lifecycle_legal(direct)
    succeeded = [op for op, outcome in zip(operations, outcomes) if outcome == "ok"]
    story = checks.actions(direct, sandbox_id)
    assert final.extension_count == story.count("extend") == succeeded.count("extend")
    assert final.expires_at == expires_at + timedelta(days=succeeded.count("extend"))  # no extension lost
    assert story.count("freeze") == succeeded.count("freeze")
    assert story.count("destroy") == min(1, succeeded.count("destroy"))  # accepted means done, once
    assert story.count("deleted") == story.count("destroy")
    assert final.state in ("active", "frozen", "deleted"), story
    account = final.cloud_id
    iam = checks.member_iam(aws_url, account)
    if final.state == "deleted":
        status = checks.aws(aws_url, "organizations").describe_account(AccountId=account)["Account"]["Status"]
        assert (status, checks.ou_path(aws_url, account)) == ("SUSPENDED", "/sandbox/closed")
        assert iam.list_users()["Users"] == []
    elif final.state == "frozen":
        assert checks.ou_path(aws_url, account) == "/sandbox/frozen"
        assert checks.login_profile(iam, ALICE.email) is None
    else:
        assert checks.ou_path(aws_url, account) == "/sandbox/active/engineering"
        assert checks.login_profile(iam, ALICE.email)["UserName"] == ALICE.email
    print(order, list(zip(operations, [o if o == "ok" else type(o).__name__ for o in outcomes])), story)
