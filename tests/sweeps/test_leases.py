"""A sandbox's lease: one claim, a token of its own, handed to the work and released once."""

from datetime import timedelta

import pytest

from sandbox.errors import ConcurrentUpdateError
from sandbox.models import Sandbox
from sandbox.service import request_sandbox
from sandbox.service.steps import DbStepStore, claim, leased, release
from tests.conftest import ALICE
from tests.sweeps.conftest import rows


def row(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def test_a_claim_that_ran_out_writes_nothing_over_the_next_claim_of_the_same_worker(make_app, clock):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    stale = claim(app, sandbox_id)
    clock.advance(app.settings.daemon.lease + timedelta(seconds=1))  # that thread stalled

    fresh = claim(app, sandbox_id)  # another thread of the same worker takes the sandbox over
    assert fresh is not None and fresh.owner != stale.owner
    with pytest.raises(ConcurrentUpdateError, match="taken over by another worker"):
        DbStepStore(app, sandbox_id, lease=stale).put("account_id", "111111111111")
    with pytest.raises(ConcurrentUpdateError, match="before secret password was saved"):
        DbStepStore(app, sandbox_id, lease=stale).put_secret(ALICE.email, "password", "stale")
    DbStepStore(app, sandbox_id, lease=fresh).put("account_id", "222222222222")
    release(app, stale)  # the stalled thread's release leaves its successor's lease alone

    sandbox = row(app, sandbox_id)
    assert sandbox.progress == {"account_id": "222222222222"} and sandbox.lease_owner == fresh.owner
    assert DbStepStore(app, sandbox_id).get_secret(ALICE.email, "password") is None
    release(app, fresh)
    assert row(app, sandbox_id).lease_owner is None


def test_a_store_opened_without_a_lease_reads_but_cannot_write(make_app):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    with leased(app, sandbox_id) as lease:
        DbStepStore(app, sandbox_id, lease=lease).put("account_id", "111111111111")
        unleased = DbStepStore(app, sandbox_id)

        assert unleased.get("account_id") == "111111111111"
        with pytest.raises(ConcurrentUpdateError):
            unleased.put("account_id", "222222222222")
    assert row(app, sandbox_id).progress == {"account_id": "111111111111"}


def test_a_lease_handed_in_is_used_not_claimed_again_nor_released(make_app):
    app = make_app()
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    lease = claim(app, sandbox_id)

    with leased(app, sandbox_id, lease) as held:
        assert held == lease
    assert row(app, sandbox_id).lease_owner == lease.owner  # its claimer releases it
    with pytest.raises(ConcurrentUpdateError, match="being worked on by another process"):
        with leased(app, sandbox_id):
            pass
