from datetime import datetime, timezone

import pytest
from sqlmodel import Session, select

from sandbox.db import check_schema, make_engine
from sandbox.errors import ConcurrentUpdateError, IllegalTransitionError, SchemaOutdatedError
from sandbox.lifecycle import STATES, TRANSITIONS, transition
from sandbox.models import Event, Sandbox
from sandbox.service import request_sandbox
from tests.conftest import ALICE

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_transition_table_is_closed():
    assert set(TRANSITIONS) == set(STATES)
    for targets in TRANSITIONS.values():
        assert set(targets) <= set(STATES)


def test_illegal_transition_raises_and_writes_nothing(db_app):
    sandbox_id = request_sandbox(db_app, ALICE, "aws-individual")["id"]
    with Session(db_app.engine) as session:
        sandbox = session.get(Sandbox, sandbox_id)
        with pytest.raises(IllegalTransitionError, match="cannot become active"):
            transition(session, sandbox, "active", actor="x", action="x", at=NOW)
    with Session(db_app.engine) as session:
        assert session.get(Sandbox, sandbox_id).state == "requested"
        assert len(session.exec(select(Event)).all()) == 1


def test_two_writers_cannot_both_move_one_sandbox(db_app):
    sandbox_id = request_sandbox(db_app, ALICE, "aws-individual")["id"]
    with Session(db_app.engine) as first, Session(db_app.engine) as second:
        a = first.get(Sandbox, sandbox_id)
        first.expunge(a)
        first.rollback()
        b = second.get(Sandbox, sandbox_id)
        second.expunge(b)
        second.rollback()  # both hold version 0 in memory; no locks are held
        transition(first, a, "provisioning", actor="one", action="provision_start", at=NOW)
        first.commit()
        with pytest.raises(ConcurrentUpdateError):
            transition(second, b, "denied", actor="two", action="deny", at=NOW)
    with Session(db_app.engine) as session:
        assert session.get(Sandbox, sandbox_id).state == "provisioning"
        actions = [e.action for e in session.exec(select(Event).order_by(Event.id)).all()]
    assert actions == ["request", "provision_start"]


def test_commands_say_to_upgrade_an_empty_database(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutdatedError, match="sandbox db upgrade"):
        check_schema(engine)


def test_schema_revision_constant_matches_alembic_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from sandbox.db import MIGRATIONS_DIR, SCHEMA_REVISION

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


# ---- update_guarded, pinned by mutation testing (scripts/mutation.py, issue 16) ---------

from sandbox.lifecycle import update_guarded  # noqa: E402
from tests.conftest import BOB  # noqa: E402


def test_update_guarded_bumps_the_version_by_one_and_changes_only_that_row(db_app):
    mine = request_sandbox(db_app, ALICE, "aws-individual")["id"]
    other = request_sandbox(db_app, BOB, "aws-individual")["id"]
    with Session(db_app.engine) as session:
        sandbox = session.get(Sandbox, mine)
        version = sandbox.version
        assert session.get(Sandbox, other).version == version  # same version: only the id tells them apart
        update_guarded(session, sandbox, last_error="boom")
        assert (sandbox.version, sandbox.last_error) == (version + 1, "boom")
        session.commit()
    with Session(db_app.engine) as session:
        stored, untouched = session.get(Sandbox, mine), session.get(Sandbox, other)
        assert (stored.version, stored.last_error, stored.state) == (version + 1, "boom", "requested")
        assert (untouched.version, untouched.last_error) == (version, None)


def test_update_guarded_refuses_a_stale_row_and_writes_nothing(db_app):
    sandbox_id = request_sandbox(db_app, ALICE, "aws-individual")["id"]
    with Session(db_app.engine) as first, Session(db_app.engine) as second:
        stale = first.get(Sandbox, sandbox_id)
        first.expunge(stale)
        first.rollback()
        update_guarded(second, second.get(Sandbox, sandbox_id), last_error="first")
        second.commit()
        with pytest.raises(ConcurrentUpdateError) as caught:
            update_guarded(first, stale, last_error="second")
    assert str(caught.value) == f"sandbox {sandbox_id} was changed by someone else; try again"
    with Session(db_app.engine) as session:
        stored = session.get(Sandbox, sandbox_id)
        assert (stored.version, stored.last_error) == (stale.version + 1, "first")


def test_a_transition_moves_only_its_own_row(db_app):
    mine = request_sandbox(db_app, ALICE, "aws-individual")["id"]
    other = request_sandbox(db_app, BOB, "aws-individual")["id"]
    with Session(db_app.engine) as session:
        sandbox = session.get(Sandbox, mine)
        version = sandbox.version
        assert session.get(Sandbox, other).version == version  # same version and state as mine
        transition(session, sandbox, "provisioning", actor="x", action="provision_start", at=NOW)
        session.commit()
    with Session(db_app.engine) as session:
        assert (session.get(Sandbox, mine).state, session.get(Sandbox, mine).version) == ("provisioning", version + 1)
        assert (session.get(Sandbox, other).state, session.get(Sandbox, other).version) == ("requested", version)


def test_a_transition_from_a_stale_version_is_refused_even_in_the_same_state(db_app):
    sandbox_id = request_sandbox(db_app, ALICE, "aws-individual")["id"]
    with Session(db_app.engine) as first, Session(db_app.engine) as second:
        stale = first.get(Sandbox, sandbox_id)
        first.expunge(stale)
        first.rollback()
        update_guarded(second, second.get(Sandbox, sandbox_id), last_error="changed")  # still requested
        second.commit()
        with pytest.raises(ConcurrentUpdateError) as caught:
            transition(first, stale, "provisioning", actor="x", action="provision_start", at=NOW)
    assert str(caught.value) == (f"sandbox {sandbox_id} was changed by someone else while provision_start "
                                 "ran; try again")
    with Session(db_app.engine) as session:
        assert session.get(Sandbox, sandbox_id).state == "requested"
        assert [e.action for e in session.exec(select(Event)).all()] == ["request"]


def test_a_transition_is_also_guarded_by_the_state_it_expects(db_app):
    from sqlalchemy import update

    sandbox_id = request_sandbox(db_app, ALICE, "aws-individual")["id"]
    with Session(db_app.engine) as session:
        sandbox = session.get(Sandbox, sandbox_id)
        session.expunge(sandbox)
        session.rollback()
        # The state changed without the version (a manual fix in the database, say).
        session.execute(update(Sandbox).where(Sandbox.id == sandbox_id).values(state="denied"))
        session.commit()
        with pytest.raises(ConcurrentUpdateError):
            transition(session, sandbox, "provisioning", actor="x", action="provision_start", at=NOW)
    with Session(db_app.engine) as session:
        assert session.get(Sandbox, sandbox_id).state == "denied"


def test_a_state_outside_the_table_can_move_nowhere():
    from sandbox.lifecycle import can_move

    assert can_move("archived", "active") is False
    assert can_move("", "deleted") is False
