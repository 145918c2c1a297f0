"""Every edge of the lifecycle pinned (issue 16): the table is written out here, so a change
to sandbox/lifecycle.py TRANSITIONS must change this test too. Each of the 64 (from, to)
pairs is tried through `transition()` on a real database: an allowed one moves the row
and writes its event; every other one raises IllegalTransitionError and writes nothing."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from sandbox.errors import IllegalTransitionError
from sandbox.lifecycle import STATES, TRANSITIONS, can_move, transition
from sandbox.models import Event, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)

EXPECTED: dict[str, set[str]] = {
    "requested": {"provisioning", "denied", "deleted"},
    "provisioning": {"active", "failed", "deleting", "deleted"},
    "active": {"frozen", "deleting"},
    "frozen": {"active", "deleting"},
    "deleting": {"deleted"},
    "failed": {"provisioning", "deleting", "deleted"},
    "deleted": set(),
    "denied": set(),
}
ALLOWED = sorted((a, b) for a, targets in EXPECTED.items() for b in targets)
REFUSED = sorted(pair for pair in itertools.product(EXPECTED, EXPECTED) if pair not in set(ALLOWED))


def test_the_table_is_exactly_the_one_written_here():
    assert set(STATES) == set(EXPECTED)
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == EXPECTED
    assert len(ALLOWED) == 15 and len(ALLOWED) + len(REFUSED) == 64
    for from_state, to_state in itertools.product(STATES, STATES):
        assert can_move(from_state, to_state) is ((from_state, to_state) in ALLOWED)


def sandbox_in(app, state: str) -> str:
    sandbox_id = request_sandbox(app, ALICE, "aws-individual")["id"]
    with app.session() as session:
        session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(state=state))
    return sandbox_id


def events_of(app, sandbox_id: str) -> list[tuple[str, str | None, str | None]]:
    with Session(app.engine) as session:
        events = session.exec(select(Event).where(Event.sandbox_id == sandbox_id).order_by(Event.id)).all()
        return [(e.action, e.from_state, e.to_state) for e in events]


@pytest.mark.parametrize("from_state, to_state", ALLOWED)
def test_an_allowed_edge_moves_the_row_and_writes_its_event(db_app, from_state, to_state):
    sandbox_id = sandbox_in(db_app, from_state)
    with Session(db_app.engine) as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        version = sandbox.version
        transition(session, sandbox, to_state, actor="tester", action="edge", at=NOW)
        session.commit()

    with Session(db_app.engine) as session:
        stored = session.get_one(Sandbox, sandbox_id)
        assert (stored.state, stored.version) == (to_state, version + 1)
    assert events_of(db_app, sandbox_id) == [("request", None, "requested"), ("edge", from_state, to_state)]


@pytest.mark.parametrize("from_state, to_state", REFUSED)
def test_every_other_pair_is_refused_and_writes_nothing(db_app, from_state, to_state):
    sandbox_id = sandbox_in(db_app, from_state)
    with Session(db_app.engine) as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
        version = sandbox.version
        with pytest.raises(IllegalTransitionError,
                           match=f"sandbox {sandbox_id} is {from_state}; it cannot become {to_state}"):
            transition(session, sandbox, to_state, actor="tester", action="edge", at=NOW)
        session.commit()

    with Session(db_app.engine) as session:
        stored = session.get_one(Sandbox, sandbox_id)
        assert (stored.state, stored.version) == (from_state, version)
    assert events_of(db_app, sandbox_id) == [("request", None, "requested")]
