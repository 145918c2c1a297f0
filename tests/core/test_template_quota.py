"""A template's `max_live`: live sandboxes of that template across all users (issue 16).

Exactly at the limit a request is refused, one below it is accepted, and a sandbox that
stops being live (withdrawn, denied, failed) gives its place back. The per-user quota is
switched off here ([quotas] max_live_per_user = 0) so only the template's limit speaks.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from sandbox.config import Identity
from sandbox.errors import QuotaExceededError
from sandbox.models import Sandbox
from sandbox.service import build_app, deny_sandbox, destroy_sandbox, request_sandbox
from tests.conftest import ADMIN, make_settings

LIMIT = 3
CAPPED = f"""
provider = "aws"
description = "At most {LIMIT} live at once, whoever asks."
kind = "individual"
max_live = {LIMIT}
[aws]
console_login = true
access_keys = false
policies = []
"""
UNCAPPED = CAPPED.replace(f"max_live = {LIMIT}\n", "")


def person(n: int) -> Identity:
    return Identity(email=f"user{n}@example.com", department="engineering")


@pytest.fixture
def quota_app(db_url, clock, tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "capped.toml").write_text(CAPPED)
    (folder / "uncapped.toml").write_text(UNCAPPED)
    (folder / "capped-group.toml").write_text(CAPPED.replace('"individual"', '"group"')
                                              .replace("max_live", "approval_required = true\nmax_live"))
    application = build_app(make_settings(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9",
                                          quotas={"max_live_per_user": 0},
                                          templates={"dirs": [str(folder)]}), clock=clock)
    yield application
    application.close()


def live_of(app, template: str) -> list[Sandbox]:
    with Session(app.engine) as session:
        return list(session.exec(select(Sandbox).where(Sandbox.template == template)).all())


def test_one_below_the_limit_is_accepted_and_exactly_at_it_refused(quota_app):
    # Another template's live sandboxes take none of this one's places.
    for n in range(LIMIT):
        request_sandbox(quota_app, person(n), "uncapped")
    ids = [request_sandbox(quota_app, person(n), "capped")["id"] for n in range(LIMIT - 1)]
    # One below the limit (LIMIT - 1 live): accepted, by yet another person.
    ids.append(request_sandbox(quota_app, person(LIMIT - 1), "capped")["id"])

    # Exactly at the limit: refused, whoever asks, and nothing is written.
    with pytest.raises(QuotaExceededError,
                       match=f"template capped already has {LIMIT} live sandboxes \\(limit {LIMIT}\\)"):
        request_sandbox(quota_app, person(LIMIT), "capped")

    assert sorted(s.id for s in live_of(quota_app, "capped")) == sorted(ids)
    assert {s.state for s in live_of(quota_app, "capped")} == {"requested"}
    # ...nor is another template held back by this one's.
    assert request_sandbox(quota_app, person(LIMIT), "uncapped")["state"] == "requested"
    assert len(live_of(quota_app, "uncapped")) == LIMIT + 1


def test_a_deletion_gives_the_place_back(quota_app):
    ids = [request_sandbox(quota_app, person(n), "capped")["id"] for n in range(LIMIT)]
    with pytest.raises(QuotaExceededError):
        request_sandbox(quota_app, person(99), "capped")

    assert destroy_sandbox(quota_app, person(0), ids[0])["state"] == "deleted"  # withdrawn

    again = request_sandbox(quota_app, person(99), "capped")
    assert again["state"] == "requested"
    with pytest.raises(QuotaExceededError, match=f"limit {LIMIT}"):
        request_sandbox(quota_app, person(100), "capped")
    states = sorted(s.state for s in live_of(quota_app, "capped"))
    assert states == ["deleted"] + ["requested"] * LIMIT


@pytest.mark.parametrize("state, holds_a_place", [
    ("requested", True), ("provisioning", True), ("active", True), ("frozen", True), ("deleting", True),
    ("failed", False), ("deleted", False), ("denied", False),
])
def test_every_live_state_holds_a_place_and_no_other_does(quota_app, state, holds_a_place):
    ids = [request_sandbox(quota_app, person(n), "capped")["id"] for n in range(LIMIT)]
    with quota_app.session() as session:  # the first one moved on by the daemon, say
        session.execute(update(Sandbox).where(Sandbox.id == ids[0]).values(state=state))

    if holds_a_place:
        with pytest.raises(QuotaExceededError, match=f"already has {LIMIT} live"):
            request_sandbox(quota_app, person(99), "capped")
        assert len(live_of(quota_app, "capped")) == LIMIT
    else:
        assert request_sandbox(quota_app, person(99), "capped")["state"] == "requested"
        assert len(live_of(quota_app, "capped")) == LIMIT + 1


def test_a_denied_request_gives_its_place_back(quota_app):
    ids = [request_sandbox(quota_app, person(n), "capped-group")["id"] for n in range(LIMIT)]
    with pytest.raises(QuotaExceededError):
        request_sandbox(quota_app, person(99), "capped-group")

    deny_sandbox(quota_app, ADMIN, ids[1], "no")

    assert request_sandbox(quota_app, person(99), "capped-group")["state"] == "requested"


def test_concurrent_requests_from_different_people_cannot_squeeze_past_the_template_limit(quota_app):
    outcomes: list[str] = []
    start = threading.Barrier(10)

    def ask(n: int) -> None:
        start.wait()
        try:
            request_sandbox(quota_app, person(n), "capped")
            outcomes.append("ok")
        except QuotaExceededError:
            outcomes.append("quota")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["ok"] * LIMIT + ["quota"] * (10 - LIMIT)
    assert len(live_of(quota_app, "capped")) == LIMIT
