"""Every timestamp in an event's detail has the one format of every other timestamp the
tool writes: UTC, whole seconds, a Z (2026-01-05T12:00:00Z), whoever recorded the event."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sandbox.lifecycle import uniform_times
from sandbox.models import Event
from sandbox.service import extend_sandbox, list_events, request_sandbox
from tests.conftest import ALICE
from tests.sweeps.conftest import rows, run

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # a calendar day (GCP's purge date) is no timestamp


def test_extend_warn_freeze_and_delete_details_use_one_timestamp_format(bootstrapped, clock):
    app = bootstrapped
    clock.advance(timedelta(seconds=22, microseconds=306209))  # a clock with microseconds, as a real one
    sandbox_id = request_sandbox(app, ALICE, "gcp-individual", ttl="2d")["id"]
    run(app, "provision")
    extend_sandbox(app, ALICE, sandbox_id, "1d")
    clock.advance(timedelta(days=2, hours=1))  # inside the 1d warning
    run(app, "expiry")
    clock.advance(timedelta(days=1))  # expired: frozen
    run(app, "expiry")
    clock.advance(timedelta(days=4))  # past the grace period: deleted
    run(app, "expiry")

    stamps = {(e.action, key): value for e in rows(app, Event, Event.sandbox_id == sandbox_id)
              for key, value in e.detail.items() if key.endswith(("_at", "_after"))}
    assert {("extend", "expires_at"), ("expiry_warning", "expires_at"), ("freeze", "delete_after")} <= set(stamps)
    assert {key: value for key, value in stamps.items() if not STAMP.match(value) and not DAY.match(value)} == {}
    shown = [e["detail"] for e in list_events(app, ALICE, sandbox_id)]
    assert not any("+00:00" in str(detail) for detail in shown)


def test_uniform_times_formats_datetimes_and_isoformat_strings_and_leaves_the_rest():
    at = datetime(2026, 1, 3, 9, 0, 22, 306209, tzinfo=timezone.utc)

    detail = uniform_times({"expires_at": at.isoformat(), "delete_after": at, "by": "3d",
                            "reason": at.isoformat(), "before": {"expires_at": at.isoformat()}})

    assert detail == {"expires_at": "2026-01-03T09:00:22Z", "delete_after": "2026-01-03T09:00:22Z", "by": "3d",
                      "reason": at.isoformat(), "before": {"expires_at": at.isoformat()}}
