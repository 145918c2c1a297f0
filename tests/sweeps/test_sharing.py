"""Sweeps sharing one daemon process: a sandbox another sweep thread of the same worker
holds is skipped, and a shutdown request stops a sweep between sandboxes, leases handed back."""

from datetime import timedelta

from sandbox.models import Sandbox
from sandbox.service import request_sandbox
from sandbox.service.steps import claim, release
from sandbox.sweeps import expire_due
from tests.conftest import ALICE
from tests.sweeps.conftest import rows, run


def states(app):
    return {s.id: (s.state, s.lease_owner) for s in rows(app, Sandbox)}


def test_a_sandbox_in_another_sweep_threads_hands_is_left_to_it(bootstrapped, clock):
    app = bootstrapped
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual", ttl="1d")["id"]
    run(app, "provision")
    clock.advance(timedelta(days=1))

    lease = claim(app, sandbox_id)  # as the budget sweep's thread would, with the same worker id
    assert lease is not None and lease.owner.startswith(f"{app.worker_id}:")
    assert claim(app, sandbox_id) is None  # a lease is nobody else's, this worker's other threads included
    assert run(app, "expiry").due == 0
    assert states(app)[sandbox_id] == ("active", lease.owner)

    release(app, lease)
    assert run(app, "expiry").done == 1
    assert states(app)[sandbox_id] == ("frozen", None)


def test_stop_request_ends_the_sweep_between_sandboxes(bootstrapped, clock):
    app = bootstrapped
    for _ in range(2):
        request_sandbox(app, ALICE, "gcp-individual", ttl="1d")
    run(app, "provision")
    clock.advance(timedelta(days=1))
    frozen_before = []

    def stop():  # the daemon got SIGTERM while the first sandbox was being frozen
        frozen_before.append(sum(state == "frozen" for state, _ in states(app).values()))
        return frozen_before[-1] >= 1

    result = expire_due(app, stop=stop)

    assert (result.done, result.failed) == (1, 0)
    assert sorted(states(app).values()) == [("active", None), ("frozen", None)]  # no lease left behind
    assert run(app, "expiry").done == 1  # the next run picks up the other one
    assert {s for s, _ in states(app).values()} == {"frozen"}
