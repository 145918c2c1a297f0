"""A crash at each step of a pool account's journey resumes without leaking or
double-leasing the account (issue 15), on moto and both databases.

Each crash is a real one, the code under test unchanged:

- kill -9 on the wire: the real `sandbox` command (`daemon --once --job pool` or
  `--job provision`, or the owner's `sandbox destroy`) runs in a subprocess whose AWS
  endpoint is tests.faults.proxies' AwsFaultProxy; when the chosen AWS request arrives the proxy SIGKILLs the subprocess,
  then either lets the request reach moto (AWS did the work, the answer is lost) or
  drops it (it never reached AWS). What the dead process held stays held: its claim on
  a cleaning account, its lease on a sandbox, until [daemon] lease runs out on the
  clock (moved past it here, as 15 minutes would).
- a stalled process: the proxy holds a request of one replica while another works.
- a replica that died between two database commits (no AWS call between them to kill it
  on): it runs the product's own functions up to that commit and never the rest, its
  lease left held as a dead worker leaves it.

Then the daemon's jobs run again in process, and the test asserts on what moto holds
(the account's OU, the member account's IAM users and queues) and on the database (the
PoolAccount rows, leases and events): `assert_pool_whole` checks that no account is lost
or doubled and none is leased to two sandboxes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from sqlalchemy import text
from sqlmodel import Session

from sandbox.clock import FrozenClock
from sandbox.lifecycle import DELETING, PROVISIONING, transition
from sandbox.models import Event, PoolAccount, Sandbox
from sandbox.provider import Placement
from sandbox.service import bootstrap, destroy_sandbox, provision_sandbox, request_sandbox
from sandbox.service.pool import lease_account, register_account, return_for_destroy
from sandbox.service.steps import DbStepStore, claim
from tests.conftest import ADMIN, ALICE, BOB
from tests.faults.conftest import Stack, raw_config
from tests.faults.proxies import AwsFaultProxy
from tests.daemon.conftest import clean_env
from tests.sweeps.conftest import Aws, rows, run
from tests.sweeps.test_pool import _plan_and_steps, account_count, member, parent_path

POOL = {"min_ready": 0, "max_size": 4, "regions": ["us-east-1"], "cleanup_passes": 1}
OU_OF_STATE = {"ready": "/sandbox/pool/ready", "cleaning": "/sandbox/pool/cleaning",
               "quarantined": "/sandbox/pool/quarantined", "leased": "/sandbox/pool/leased"}
DEPARTMENT_OU = "/sandbox/active/engineering"
LIVE = ("provisioning", "active", "frozen", "deleting", "failed")


@pytest.fixture
def clock():
    """Today: the killed subprocesses stamp their leases with the real clock."""
    return FrozenClock(datetime.now(timezone.utc).replace(microsecond=0))


class Pool:
    """One test's pool: the real command in a subprocess and an App in process, on one
    config whose AWS endpoint is the fault proxy in front of moto; `aws` is moto direct."""

    def __init__(self, stack: Stack, proxy: AwsFaultProxy, aws: Aws, clock: FrozenClock):
        self.stack, self.proxy, self.aws, self.clock = stack, proxy, aws, clock
        self.app = stack.app(clock=clock)
        bootstrap(self.app, ADMIN, ["aws"])
        self._victim: subprocess.Popen | None = None
        self.fired = threading.Event()

    # -- crashes -------------------------------------------------------------------------

    def kill_at(self, operation: str, *, nth: int = 1, reached: bool, when: Callable[[dict], bool] | None = None):
        """SIGKILL the subprocess when its nth `operation` request (matching `when`, a test
        of the JSON request) arrives; `reached`: the request still goes on to moto."""
        seen = 0

        def hit(request: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal seen
            if self.fired.is_set() or (when is not None and not when(request)):
                return None
            seen += 1
            if seen < nth:
                return None
            assert self._victim is not None
            os.kill(self._victim.pid, signal.SIGKILL)
            self.fired.set()
            return None if reached else {}  # {}: answered (to a dead process), never forwarded

        self.proxy.reply(operation, hit, count=10**6)

    def killed(self, *args: str) -> None:
        """Run the real command; it must die of the armed kill."""
        self._victim = subprocess.Popen(self.stack.command(*args), env=clean_env(), cwd=self.stack.folder,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = self._victim.communicate(timeout=120)
        assert self._victim.returncode == -signal.SIGKILL and self.fired.is_set(), (out, err[-3000:])
        if self.app.is_postgres:  # its job's advisory lock goes when the server sees the connection close
            eventually(lambda: not self._advisory_locks(), "PostgreSQL released the dead process's job lock")

    def _advisory_locks(self) -> int:
        with self.app.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                                     "(SELECT oid FROM pg_database WHERE datname = current_database())")).scalar_one()

    def after_the_dead_lease(self) -> None:
        """Move the clock past every lease the dead process took (it used the real clock)."""
        target = datetime.now(timezone.utc) + self.app.settings.daemon.lease + timedelta(minutes=1)
        self.clock.advance(target - self.clock.now())

    # -- arranging -----------------------------------------------------------------------

    def adopt(self, name: str, queues: int = 0, users: int = 0) -> str:
        """An account made out of band with `queues` SQS queues and `users` IAM users in it,
        registered into the pool (cleaning, in the cleaning OU)."""
        account_id = self.aws.org.create_account(Email=f"{name}@example.com",
                                                 AccountName=name)["CreateAccountStatus"]["AccountId"]
        make_mess(self.aws, account_id, queues=queues, users=users)
        register_account(self.app, ADMIN, "aws", account_id)
        return account_id

    def ready(self, count: int = 1) -> list[str]:
        """`count` fresh (so clean) accounts as an earlier pool job left them: ready, in the
        ready OU. Made directly, to spare each test the clean passes that ready them."""
        made = []
        for n in range(count):
            name = f"ready-{n}"
            account_id = self.aws.org.create_account(Email=f"{name}@example.com",
                                                     AccountName=name)["CreateAccountStatus"]["AccountId"]
            root = self.aws.org.list_roots()["Roots"][0]["Id"]
            self.aws.org.move_account(AccountId=account_id, SourceParentId=root,
                                      DestinationParentId=self.aws.ou_id("/sandbox/pool/ready"))
            now = self.clock.now()
            with Session(self.app.engine) as session:
                session.add(PoolAccount(provider="aws", name=name, cloud_id=account_id, state="ready", passes=1,
                                        created_at=now, updated_at=now, ready_at=now + timedelta(seconds=n)))
                session.commit()
            made.append(account_id)
        return made

    def provisioned(self, identity=ALICE) -> Sandbox:
        sandbox_id = request_sandbox(self.app, identity, "aws-individual")["id"]
        assert provision_sandbox(self.app, sandbox_id, actor="test")["state"] == "active"
        return sandbox_row(self.app, sandbox_id)


@pytest.fixture
def make_pool(tmp_path, db_url, aws_url, gcp_url, clock):
    made: list[tuple[Stack, AwsFaultProxy]] = []

    def factory(**pool: Any) -> Pool:
        proxy = AwsFaultProxy(aws_url)
        folder = tmp_path / f"stack{len(made)}"
        folder.mkdir()
        stack = Stack(folder, raw_config(db_url, proxy.url, gcp_url, aws={"pool": {**POOL, **pool}}))
        made.append((stack, proxy))
        return Pool(stack, proxy, Aws(aws_url), clock)

    yield factory
    for stack, proxy in made:
        stack.close()
        proxy.close()


# -- what the clouds and the database hold ------------------------------------------------

def make_mess(aws: Aws, account_id: str, *, queues: int = 0, users: int = 0) -> None:
    """What a sandbox's user leaves behind: queues, and IAM users with keys."""
    sqs, iam = member(aws, account_id, "sqs"), member(aws, account_id, "iam")
    for n in range(queues):
        sqs.create_queue(QueueName=f"left-{n}")
    for n in range(users):
        iam.create_user(UserName=f"made-by-user-{n}")
        iam.create_access_key(UserName=f"made-by-user-{n}")


def queues(aws: Aws, account_id: str) -> list[str]:
    return member(aws, account_id, "sqs").list_queues().get("QueueUrls", [])


def iam_users(aws: Aws, account_id: str) -> list[str]:
    return [u["UserName"] for u in member(aws, account_id, "iam").list_users()["Users"]]


def assert_nothing_left(aws: Aws, account_id: str) -> None:
    """Nothing the users made survives into ready."""
    assert queues(aws, account_id) == [] and iam_users(aws, account_id) == []


def pool_row(app, cloud_id: str) -> PoolAccount:
    [row] = rows(app, PoolAccount, PoolAccount.cloud_id == cloud_id)
    return row


def sandbox_row(app, sandbox_id: str) -> Sandbox:
    with Session(app.engine) as session:
        return session.get_one(Sandbox, sandbox_id)


def pool_actions(app) -> Counter:
    return Counter(e.action for e in rows(app, Event) if e.action.startswith("pool_"))


def eventually(check: Callable[[], bool], what: str) -> None:
    """For a request the proxy forwards after the kill: moto finishes it a moment later."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def accounts_in(aws: Aws, path: str) -> list[str]:
    return [a["Id"] for page in aws.org.get_paginator("list_accounts_for_parent").paginate(ParentId=aws.ou_id(path))
            for a in page["Accounts"]]


def assert_pool_whole(app, aws: Aws) -> None:
    """No account lost, doubled or leased twice, no claim left behind: every account in a
    pool OU has exactly one row, in the OU's state; every row's account is where its state
    says (a leased one in its live sandbox's OU); no two live sandboxes share an account."""
    pool = rows(app, PoolAccount)
    assert all(n == 1 for n in Counter(row.cloud_id for row in pool).values()), [r.cloud_id for r in pool]
    by_id = {row.cloud_id: row for row in pool}
    for state, path in OU_OF_STATE.items():
        for account_id in accounts_in(aws, path):
            assert account_id in by_id, f"account {account_id} in {path} has no pool row: lost"
            assert by_id[account_id].state == state, f"account {account_id} in {path} is {by_id[account_id].state}"
    for page in aws.org.get_paginator("list_accounts").paginate():  # the pool's own, wherever they are
        for account in page["Accounts"]:
            if account["Name"].startswith("pool-"):
                assert account["Id"] in by_id, f"pool account {account['Name']} ({account['Id']}) has no row: lost"
    sandboxes = {s.id: s for s in rows(app, Sandbox)}
    for row in pool:
        assert row.lease_owner is None and row.lease_until is None, f"{row.cloud_id} still claimed"
        if row.state == "leased":
            sandbox = sandboxes.get(row.sandbox_id or "")
            assert sandbox is not None and sandbox.state in LIVE, (
                f"{row.cloud_id} leased to {row.sandbox_id}, which is {sandbox and sandbox.state}: lost")
            assert sandbox.cloud_id in (None, row.cloud_id)
            if sandbox.state == "active":
                assert parent_path(aws, row.cloud_id) == sandbox.location
        else:
            assert row.sandbox_id is None
            if row.state in OU_OF_STATE:
                assert parent_path(aws, row.cloud_id) == OU_OF_STATE[row.state], row.cloud_id
    leased_to = [row.sandbox_id for row in pool if row.state == "leased"]
    assert len(leased_to) == len(set(leased_to)), "a sandbox holds two pool accounts"
    live = [s.cloud_id for s in sandboxes.values() if s.state in LIVE and s.cloud_id]
    assert len(live) == len(set(live)), "two sandboxes share one account"


# -- creating ---------------------------------------------------------------------------

def test_a_pool_job_killed_while_creating_an_account_resumes_it_and_never_makes_a_second(make_pool):
    """Killed once CreateAccount reached AWS, before its answer (the request id) came
    back: the account exists, outside every pool OU, its row left creating."""
    pool = make_pool(min_ready=1)
    before = account_count(pool.aws)
    pool.kill_at("CreateAccount", reached=True)

    pool.killed("daemon", "--once", "--job", "pool")

    [row] = rows(pool.app, PoolAccount)
    assert (row.state, row.cloud_id) == ("creating", None)
    eventually(lambda: account_count(pool.aws) == before + 1, "CreateAccount reached moto")
    [made] = [a["Id"] for a in pool.aws.org.list_accounts()["Accounts"] if a["Name"] == row.name]
    assert parent_path(pool.aws, made) == "/"  # outside every pool OU: lost unless resumed

    result = run(pool.app, "pool")

    assert result.ok and account_count(pool.aws) == before + 1  # found by its e-mail, not made again
    [row] = rows(pool.app, PoolAccount)
    assert (row.state, row.cloud_id) == ("ready", made)
    assert parent_path(pool.aws, made) == "/sandbox/pool/ready"
    actions = pool_actions(pool.app)
    assert (actions["pool_create_started"], actions["pool_created"], actions["pool_ready"]) == (1, 1, 1)
    assert_pool_whole(pool.app, pool.aws)


# -- cleaning ---------------------------------------------------------------------------

def test_a_clean_pass_killed_midway_is_redone_once_the_dead_workers_claim_runs_out(make_pool):
    pool = make_pool()
    account = pool.adopt("messy", queues=3, users=1)
    pool.kill_at("DeleteQueue", nth=2, reached=True)  # the first queue deleted, the second on its way

    pool.killed("daemon", "--once", "--job", "pool")

    eventually(lambda: len(queues(pool.aws, account)) == 1, "the second DeleteQueue reached moto")
    assert len(iam_users(pool.aws, account)) == 1  # IAM comes last in a pass
    row = pool_row(pool.app, account)
    assert (row.state, row.passes, row.last_clean) == ("cleaning", 0, {})  # the pass never recorded
    assert row.lease_owner and not row.lease_owner.startswith(f"{pool.app.worker_id}:")
    assert pool_actions(pool.app)["pool_clean_pass"] == 0

    run(pool.app, "pool")  # the dead worker's claim still runs: not a second cleaner on it
    assert pool_row(pool.app, account).state == "cleaning" and len(queues(pool.aws, account)) == 1

    pool.after_the_dead_lease()
    assert run(pool.app, "pool").ok

    row = pool_row(pool.app, account)
    assert (row.state, row.passes, row.failures) == ("ready", 1, 0)
    assert parent_path(pool.aws, account) == "/sandbox/pool/ready"
    assert_nothing_left(pool.aws, account)
    assert (pool_actions(pool.app)["pool_clean_pass"], pool_actions(pool.app)["pool_ready"]) == (1, 1)
    assert_pool_whole(pool.app, pool.aws)


@pytest.mark.parametrize("reached", [False, True], ids=["before-the-move-to-ready", "answer-of-the-move-lost"])
def test_a_clean_killed_at_its_move_to_ready_is_never_ready_in_one_place_only(reached, make_pool):
    """The pass is recorded, the account moves into the ready OU, then the row says ready.
    Killed before that move reached AWS, or once it did but before its answer came back:
    the row is still cleaning (never ready while the account may sit in the cleaning OU);
    once the dead worker's claim runs out, the next pass readies it in both places."""
    pool = make_pool()
    account = pool.adopt("passing", queues=1)
    ready_ou = pool.aws.ou_id("/sandbox/pool/ready")
    pool.kill_at("MoveAccount", reached=reached, when=lambda request: request.get("DestinationParentId") == ready_ou)

    pool.killed("daemon", "--once", "--job", "pool")

    row = pool_row(pool.app, account)
    assert (row.passes, pool_actions(pool.app)["pool_clean_pass"]) == (1, 1)  # the pass was recorded
    assert row.state == "cleaning"  # not ready while the cloud may keep it in the cleaning OU
    where = "/sandbox/pool/ready" if reached else "/sandbox/pool/cleaning"
    eventually(lambda: parent_path(pool.aws, account) == where, f"the account in {where}")

    pool.after_the_dead_lease()
    assert run(pool.app, "pool").ok

    row = pool_row(pool.app, account)
    assert row.state == "ready" and parent_path(pool.aws, account) == "/sandbox/pool/ready"
    assert pool_actions(pool.app)["pool_ready"] == 1
    assert_nothing_left(pool.aws, account)
    assert_pool_whole(pool.app, pool.aws)


def test_a_lease_while_the_cleaner_stalls_before_its_ready_move_is_not_undone_by_that_move(make_pool):
    """A cleaner stalled (a long GC pause, a slow network) around its move into the ready
    OU while another replica serves a request: the account the request leases must stay
    in its department's OU, never be pulled back into the pool by the cleaner's move."""
    pool = make_pool()
    account = pool.adopt("stalled")
    stalled, go = threading.Event(), threading.Event()

    def stall(request: dict[str, Any]) -> None:
        if request.get("ChildId") == account and not stalled.is_set():
            stalled.set()
            go.wait(30)
        return None  # then on to moto

    pool.proxy.reply("ListParents", stall, count=10**6)  # the move's first call: where is it now?
    cleaner = threading.Thread(target=run, args=(pool.app, "pool"))
    cleaner.start()
    try:
        assert stalled.wait(30), "the cleaner never moved the account"
        other_replica = pool.stack.app(clock=pool.clock, worker_id="replica-2:1")
        sandbox_id = request_sandbox(other_replica, ALICE, "aws-individual")["id"]
        view = provision_sandbox(other_replica, sandbox_id, actor="test")
    finally:
        go.set()
        cleaner.join(60)

    assert view["state"] == "active"
    assert parent_path(pool.aws, view["cloud_id"]) == DEPARTMENT_OU  # where the provision put it
    assert pool.aws.has_login(view["cloud_id"], ALICE.email)
    assert pool_row(pool.app, account).state in ("ready", "leased")
    assert_pool_whole(pool.app, pool.aws)


# -- leasing ----------------------------------------------------------------------------

@pytest.mark.parametrize("operation, reached", [
    ("MoveAccount", False),  # leased and saved in the steps, not yet in the department's OU
    ("CreateUser", True),  # in the department's OU, the member's IAM user made, not yet saved
], ids=["before-the-move-to-the-department", "while-granting-access"])
def test_a_provision_killed_after_its_lease_resumes_with_the_same_account(operation, reached, make_pool):
    pool = make_pool()
    first, second = pool.ready(2)  # a second lease would take the second
    before = account_count(pool.aws)
    sandbox_id = request_sandbox(pool.app, ALICE, "aws-individual")["id"]
    pool.kill_at(operation, reached=reached)

    pool.killed("daemon", "--once", "--job", "provision")

    crashed = sandbox_row(pool.app, sandbox_id)
    assert crashed.state == "provisioning" and crashed.lease_owner  # the dead worker's lease
    assert (pool_row(pool.app, first).state, pool_row(pool.app, first).sandbox_id) == ("leased", sandbox_id)
    assert crashed.progress["account_id"] == first

    run(pool.app, "provision")  # the dead worker's lease still runs: left alone
    assert sandbox_row(pool.app, sandbox_id).state == "provisioning"
    pool.after_the_dead_lease()
    assert run(pool.app, "provision").ok

    final = sandbox_row(pool.app, sandbox_id)
    assert (final.state, final.cloud_id, final.lease_owner) == ("active", first, None)
    row = pool_row(pool.app, first)
    assert (row.state, row.sandbox_id, row.leases) == ("leased", sandbox_id, 1)
    assert pool_row(pool.app, second).state == "ready"  # no second lease
    assert pool_actions(pool.app)["pool_leased"] == 1
    assert account_count(pool.aws) == before  # and no account created instead
    assert parent_path(pool.aws, first) == DEPARTMENT_OU
    assert iam_users(pool.aws, first) == [ALICE.email] and pool.aws.has_login(first, ALICE.email)
    assert_pool_whole(pool.app, pool.aws)


def test_leases_whose_workers_died_before_saving_the_account_are_returned_when_the_sandboxes_are_cancelled(
        make_pool):
    """Two provisioning replicas died right after lease_account committed: one before the
    sandbox's steps knew anything, one once they knew it is a pooled account but not which
    (database commits with no AWS call between them to kill it on, so each runs the
    product's own functions up to there). The owners cancel meanwhile; the daemon tears the
    sandboxes down once the dead leases run out. Both accounts must come back to the pool,
    not stay leased to sandboxes that are gone (or keep a teardown failing forever)."""
    pool = make_pool()
    accounts = pool.ready(2)
    sandbox_ids = []
    for n, saved in enumerate((False, True)):
        sandbox_id = request_sandbox(pool.app, ALICE, "aws-individual")["id"]
        dead = pool.stack.app(clock=pool.clock, worker_id=f"dead-host:{n}")
        lease = claim(dead, sandbox_id)  # what provision_sandbox does: its lease, provisioning, the pool's lease
        with dead.session() as session:
            transition(session, session.get_one(Sandbox, sandbox_id), PROVISIONING, actor="daemon",
                       action="provision_start", at=dead.now())
        assert lease_account(dead, "aws", sandbox_id) == accounts[n]
        if saved:
            DbStepStore(dead, sandbox_id, lease=lease).put("pool_account", True)
        # ... and there it died.
        assert destroy_sandbox(pool.app, ALICE, sandbox_id)["state"] == "deleting"  # its worker seems busy
        sandbox_ids.append(sandbox_id)

    pool.after_the_dead_lease()
    assert run(pool.app, "expiry").ok
    assert [sandbox_row(pool.app, s).state for s in sandbox_ids] == ["deleted", "deleted"]
    assert run(pool.app, "pool").ok

    for account in accounts:
        row = pool_row(pool.app, account)
        assert (row.state, row.sandbox_id) == ("ready", None)
        assert parent_path(pool.aws, account) == "/sandbox/pool/ready"
        assert pool.aws.account(account)["Status"] == "ACTIVE"
    returned = sorted(e.sandbox_id for e in rows(pool.app, Event) if e.action == "pool_returned")
    assert returned == sorted(sandbox_ids)
    assert_pool_whole(pool.app, pool.aws)
    assert pool.provisioned(BOB).cloud_id in accounts  # leased again


# -- returning --------------------------------------------------------------------------

def test_a_teardown_killed_after_moving_the_account_to_cleaning_is_finished_by_the_daemon(make_pool):
    """Killed once the move into the cleaning OU reached AWS: the members' IAM users, the
    budget and the row's return still to do."""
    pool = make_pool()
    [account] = pool.ready()
    sandbox = pool.provisioned()
    assert sandbox.cloud_id == account
    make_mess(pool.aws, account, queues=2, users=1)
    pool.kill_at("MoveAccount", reached=True)

    pool.killed("destroy", sandbox.id, "--yes")  # alice's own command

    eventually(lambda: parent_path(pool.aws, account) == "/sandbox/pool/cleaning", "the move reached moto")
    crashed = sandbox_row(pool.app, sandbox.id)
    assert crashed.state == "deleting" and crashed.lease_owner
    assert (pool_row(pool.app, account).state, pool_row(pool.app, account).sandbox_id) == ("leased", sandbox.id)

    pool.after_the_dead_lease()
    assert run(pool.app, "expiry").ok
    assert sandbox_row(pool.app, sandbox.id).state == "deleted"
    assert pool_row(pool.app, account).state == "cleaning"
    assert run(pool.app, "pool").ok

    row = pool_row(pool.app, account)
    assert (row.state, row.sandbox_id, row.leases) == ("ready", None, 1)
    assert parent_path(pool.aws, account) == "/sandbox/pool/ready"
    assert pool.aws.account(account)["Status"] == "ACTIVE"  # returned, never closed
    assert_nothing_left(pool.aws, account)
    assert pool_actions(pool.app)["pool_returned"] == 1
    assert_pool_whole(pool.app, pool.aws)


def test_a_teardown_that_died_after_returning_the_account_does_not_take_it_from_its_next_lessee(make_pool):
    """The destroying replica died right after return_for_destroy recorded the return,
    before the sandbox was recorded deleted (no AWS call between). By the time its lease
    runs out the pool job has cleaned the account and bob leased it; the resumed teardown
    must leave bob's account alone."""
    pool = make_pool()
    [account] = pool.ready()
    alice = pool.provisioned()
    dead = pool.stack.app(clock=pool.clock, worker_id="dead-host:2")
    with dead.session() as session:  # what destroy_sandbox does: deleting, then the teardown
        transition(session, session.get_one(Sandbox, alice.id), DELETING, actor=ALICE.email, action="destroy",
                   at=dead.now(), next_attempt_at=dead.now())
    lease = claim(dead, alice.id)
    _sandbox, plan, steps = _plan_and_steps(dead, alice.id, lease)
    assert return_for_destroy(dead, "aws", Placement(account, alice.location), plan, steps)["pool_state"] == "cleaning"
    # ... and there it died, its lease on alice's sandbox held.

    assert run(pool.app, "pool").ok and pool_row(pool.app, account).state == "ready"
    bob = pool.provisioned(BOB)
    assert bob.cloud_id == account and pool.aws.has_login(account, BOB.email)
    pool.clock.advance(pool.app.settings.daemon.lease + timedelta(minutes=1))
    assert run(pool.app, "expiry").ok  # alice's teardown resumed

    assert sandbox_row(pool.app, alice.id).state == "deleted"
    row = pool_row(pool.app, account)
    assert (row.state, row.sandbox_id) == ("leased", bob.id)
    assert parent_path(pool.aws, account) == DEPARTMENT_OU
    assert iam_users(pool.aws, account) == [BOB.email] and pool.aws.has_login(account, BOB.email)
    assert pool_actions(pool.app)["pool_returned"] == 1
    assert_pool_whole(pool.app, pool.aws)
