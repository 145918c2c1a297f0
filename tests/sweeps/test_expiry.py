"""Expiry rules beyond the whole-life test: late warnings, failed teardown retried."""

from datetime import timedelta

from sandbox.models import Event, Milestone, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE
from tests.sweeps.conftest import notice_kinds, rows, run


def load(app, sandbox_id) -> Sandbox:
    (sandbox,) = rows(app, Sandbox, Sandbox.id == sandbox_id)
    return sandbox


def test_first_seen_inside_both_windows_gets_only_the_nearest_warning(bootstrapped, clock):
    app = bootstrapped
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual", ttl="12h")["id"]
    run(app, "provision")

    run(app, "expiry")
    clock.advance(timedelta(hours=6))
    run(app, "expiry")

    assert notice_kinds(app) == {"ready": 1, "expiry_warning": 1}
    (event,) = rows(app, Event, Event.action == "expiry_warning")
    assert (event.detail["lead"], event.detail["skipped"]) == ("1d", ["3d"])
    expires = load(app, sandbox_id).expires_at
    assert {m.key for m in rows(app, Milestone)} == {f"warn:3d:{expires:%Y%m%d%H%M}",
                                                      f"warn:1d:{expires:%Y%m%d%H%M}"}


def test_a_failed_teardown_stays_deleting_and_is_retried_without_stopping_the_others(bootstrapped, clock, gcp):
    app = bootstrapped
    stuck, fine = (request_sandbox(app, ALICE, "gcp-individual", ttl="1d")["id"] for _ in range(2))
    run(app, "provision")
    clock.advance(timedelta(days=1))
    assert run(app, "expiry").done == 2  # both frozen
    stuck_project = load(app, stuck).cloud_id
    gcp.fault(method="DELETE", path_regex=f"^/v3/projects/{stuck_project}$", status=503,
              status_name="UNAVAILABLE", count=1000)

    clock.advance(timedelta(days=3))  # the grace period is over
    result = run(app, "expiry")

    assert (result.due, result.done, result.failed) == (2, 1, 1)
    assert stuck in result.errors[0]
    assert load(app, fine).state == "deleted"
    sandbox = load(app, stuck)
    assert sandbox.state == "deleting" and sandbox.next_attempt_at == clock.now() + timedelta(minutes=30)
    assert gcp.project(stuck_project)["state"] == "ACTIVE"

    gcp.clear_faults()
    assert run(app, "expiry").due == 0  # waits for next_attempt_at
    clock.advance(timedelta(minutes=30))
    assert run(app, "expiry").done == 1
    assert load(app, stuck).state == "deleted"
    assert gcp.project(stuck_project)["state"] == "DELETE_REQUESTED"
    assert notice_kinds(app, stuck) == {"ready": 1, "frozen": 1, "deleted": 1}
    actions = [e.action for e in sorted(rows(app, Event, Event.sandbox_id == stuck), key=lambda e: e.id)]
    assert actions[-3:] == ["grace_ended", "destroy_retry", "deleted"]


def test_a_warning_states_the_time_really_left_not_the_lead_that_triggered_it(bootstrapped, clock):
    from sandbox.models import Notification

    app = bootstrapped
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual", ttl="2h")["id"]
    run(app, "provision")
    clock.advance(timedelta(hours=1, minutes=59, seconds=20))  # first seen 40 s before expiry

    run(app, "expiry")

    (notice,) = rows(app, Notification, Notification.kind == "expiry_warning")
    assert notice.subject == f"Sandbox alice-{sandbox_id} expires in 40s"
    (event,) = rows(app, Event, Event.action == "expiry_warning")
    assert (event.detail["lead"], event.detail["left"]) == ("1d", "40s")
