"""A sandbox's whole life driven only by the sweeps and a moving clock."""

from datetime import timedelta

import pytest

from sandbox.models import Credential, Event, Milestone, Sandbox
from sandbox.service import extend_sandbox, request_sandbox
from tests.conftest import ALICE
from tests.sweeps.conftest import notice_kinds, rows, run

OWNER = ALICE.email


def has_access(provider, aws, gcp, sandbox) -> bool:
    if provider == "aws":
        return aws.has_login(sandbox.cloud_id, OWNER)
    return f"user:{OWNER}" in gcp.members(sandbox.cloud_id)


def load(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


@pytest.mark.parametrize("provider", ["aws", "gcp"])
def test_whole_life_from_request_to_deleted(provider, bootstrapped, clock, aws, gcp):
    app = bootstrapped
    sandbox_id = request_sandbox(app, ALICE, f"{provider}-individual", ttl="7d")["id"]

    assert run(app, "provision").done == 1
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "active" and sandbox.cloud_id
    assert has_access(provider, aws, gcp, sandbox)
    assert notice_kinds(app) == {"ready": 1}

    def warnings():
        return notice_kinds(app)["expiry_warning"]

    expires = sandbox.expires_at
    run(app, "expiry")
    assert warnings() == 0  # seven days out: nothing yet

    clock._now = expires - timedelta(days=3) + timedelta(minutes=1)
    assert run(app, "expiry").due == 1
    assert run(app, "expiry").due == 0  # a second pass inside the same window finds nothing due
    assert warnings() == 1

    clock._now = expires - timedelta(hours=23)
    run(app, "expiry")
    assert warnings() == 2

    clock._now = expires
    assert run(app, "expiry").done == 1
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "frozen" and sandbox.delete_after == expires + timedelta(days=3)
    assert not has_access(provider, aws, gcp, sandbox)

    clock.advance(timedelta(days=1))  # inside the grace period the owner extends
    extend_sandbox(app, ALICE, sandbox_id, "3d")
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "active" and has_access(provider, aws, gcp, sandbox)
    new_expiry = sandbox.expires_at
    assert new_expiry == clock.now() + timedelta(days=3)

    run(app, "expiry")  # the new expiry is exactly 3 days away: its first warning is due
    assert warnings() == 3
    clock._now = new_expiry - timedelta(days=1)
    run(app, "expiry")
    assert warnings() == 4

    clock._now = new_expiry
    run(app, "expiry")
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "frozen" and not has_access(provider, aws, gcp, sandbox)

    clock._now = sandbox.delete_after - timedelta(minutes=1)
    run(app, "expiry")
    assert load(app, sandbox_id).state == "frozen"  # not a minute early

    clock._now = sandbox.delete_after
    assert run(app, "expiry").ok
    sandbox = load(app, sandbox_id)
    assert sandbox.state == "deleted" and sandbox.deleted_at == clock.now()
    if provider == "aws":
        assert aws.account(sandbox.cloud_id)["Status"] in ("SUSPENDED", "PENDING_CLOSURE")
    else:
        assert gcp.project(sandbox.cloud_id)["state"] == "DELETE_REQUESTED"
    assert rows(app, Credential, Credential.sandbox_id == sandbox_id) == []

    assert notice_kinds(app) == {"ready": 1, "expiry_warning": 4, "frozen": 2, "deleted": 1}
    actions = [e.action for e in sorted(rows(app, Event, Event.sandbox_id == sandbox_id),
                                        key=lambda e: (e.at, e.id))]
    assert actions == ["request", "provision_start", "provisioned", "expiry_warning", "expiry_warning",
                       "freeze", "extend", "expiry_warning", "expiry_warning", "freeze",
                       "grace_ended", "deleted"]
    keys = {m.key for m in rows(app, Milestone, Milestone.sandbox_id == sandbox_id)}
    assert keys == {f"warn:{lead}:{when:%Y%m%d%H%M}" for lead in ("3d", "1d") for when in (expires, new_expiry)}
