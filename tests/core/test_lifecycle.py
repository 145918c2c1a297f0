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
