"""The template snapshot a sandbox keeps: its fields, not the template file as it is now,
decide extensions, the grace period and the budget thresholds; migration 0003 turns the
unversioned snapshots of revision 0002 into it and back."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import Session, select

from sandbox.db import MIGRATIONS_DIR, SCHEMA_REVISION, upgrade
from sandbox.errors import SchemaOutdatedError, UsageError
from sandbox.models import Event, Member, Sandbox
from sandbox.provider import Threshold
from sandbox.service import bootstrap, build_app, extend_sandbox, request_sandbox
from sandbox.snapshot import TemplateSnapshot
from tests.conftest import ADMIN, ALICE, make_settings
from tests.sweeps.conftest import MANAGEMENT_ACCOUNT, Aws, run
from tests.sweeps.test_budgets import ce_day

DAY = 86400
# Every duration differs from the others, so reading one field for another changes what happens.
TEMPLATE = """
provider = "aws"
default_ttl = "2d"
max_ttl = "5d"
max_extensions = 1
grace_period = "4d"

[budget]
amount_usd = 40
thresholds = [{ percent = 90, action = "freeze" }, { percent = 50, action = "notify" }, { percent = 25, action = "notify" }]
"""


@pytest.fixture
def template_file(tmp_path):
    path = tmp_path / "templates" / "odd.toml"
    path.parent.mkdir()
    path.write_text(TEMPLATE)
    return path


@pytest.fixture
def cloud_app(db_url, aws_url, gcp_url, clock, template_file):
    app = build_app(make_settings(db_url, aws_url, gcp_url, templates={"dirs": [str(template_file.parent)]}),
                    clock=clock)
    bootstrap(app, ADMIN)
    yield app
    app.engine.dispose()


def load(app, sandbox_id: str) -> Sandbox:
    with Session(app.engine) as session:
        return session.get(Sandbox, sandbox_id)


def events(app, sandbox_id: str, action: str) -> list[Event]:
    with Session(app.engine) as session:
        return list(session.exec(select(Event).where(Event.sandbox_id == sandbox_id, Event.action == action)
                                 .order_by(Event.id)).all())


def test_a_snapshot_of_another_version_is_refused():
    snapshot = TemplateSnapshot(max_ttl=timedelta(days=5), max_extensions=1, grace_period=timedelta(days=4),
                                thresholds=(Threshold(25, "notify"),), spec={})
    assert TemplateSnapshot.from_json(snapshot.to_json()) == snapshot
    with pytest.raises(SchemaOutdatedError, match="version 2, .* reads version 1; run: sandbox db upgrade"):
        TemplateSnapshot.from_json({**snapshot.to_json(), "version": 2})
    with pytest.raises(SchemaOutdatedError, match="version None"):
        TemplateSnapshot.from_json(PLAN_0002)


def test_extensions_obey_the_limits_the_sandbox_was_requested_with(cloud_app, clock, template_file):
    sandbox_id = request_sandbox(cloud_app, ALICE, "odd", wait=True)["id"]  # expires in 2d
    template_file.write_text(TEMPLATE.replace('"5d"', '"30d"').replace("max_extensions = 1", "max_extensions = 9"))

    with pytest.raises(UsageError, match="more than 5d to live"):
        extend_sandbox(cloud_app, ALICE, sandbox_id, "3d1h")
    extend_sandbox(cloud_app, ALICE, sandbox_id, "3d")  # up to max_ttl exactly
    assert load(cloud_app, sandbox_id).expires_at == clock.now() + timedelta(days=5)
    clock.advance(timedelta(days=1))
    with pytest.raises(UsageError, match="already extended 1 times"):
        extend_sandbox(cloud_app, ALICE, sandbox_id, "1h")


def test_an_expired_sandbox_is_kept_frozen_for_its_grace_period(cloud_app, clock):
    sandbox_id = request_sandbox(cloud_app, ALICE, "odd", wait=True)["id"]
    clock.advance(timedelta(days=2))
    run(cloud_app, "expiry")
    sandbox = load(cloud_app, sandbox_id)
    assert (sandbox.state, sandbox.delete_after) == ("frozen", clock.now() + timedelta(days=4))


def test_the_budget_and_its_thresholds_reach_aws_and_apply_in_percent_order(cloud_app, clock, aws_url):
    sandbox_id = request_sandbox(cloud_app, ALICE, "odd", wait=True)["id"]
    sandbox = load(cloud_app, sandbox_id)
    aws = Aws(aws_url)
    budgets = aws.client("budgets")
    budget = {"AccountId": MANAGEMENT_ACCOUNT, "BudgetName": sandbox.progress["budget"]}
    assert Decimal(budgets.describe_budget(**budget)["Budget"]["BudgetLimit"]["Amount"]) == 40
    assert [n["Threshold"] for n in budgets.describe_notifications_for_budget(**budget)["Notifications"]] == [
        25, 50, 90]
    cloud_id, jan1, jan2 = sandbox.cloud_id, date(2026, 1, 1), date(2026, 1, 2)

    clock.advance(timedelta(days=1))  # each day's read is a new Cost Explorer request
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(jan1, (cloud_id, "12.00"))]}])
    run(cloud_app, "budgets")  # 30% of 40 USD
    [notified] = events(cloud_app, sandbox_id, "budget_threshold")
    assert (notified.detail["percent"], notified.detail["action"]) == (25, "notify")
    assert load(cloud_app, sandbox_id).state == "active"

    clock.advance(timedelta(days=1))
    aws.queue_cost_and_usage([{"ResultsByTime": [ce_day(jan1, (cloud_id, "12.00")),
                                                 ce_day(jan2, (cloud_id, "24.00"))]}])
    run(cloud_app, "budgets")  # 90%: past 50 and 90 at once, one message for the higher
    _, froze = events(cloud_app, sandbox_id, "budget_threshold")
    assert (froze.detail["percent"], froze.detail["action"], froze.detail["skipped"]) == (90, "freeze", [50])
    assert load(cloud_app, sandbox_id).state == "frozen"
    [freeze] = events(cloud_app, sandbox_id, "freeze")
    assert freeze.detail["reason"] == "budget 90%"


# ---- migration 0003 --------------------------------------------------------------------

# What revision 0002's Template.snapshot() stored: the whole template.
PLAN_0002 = {
    "name": "aws-individual", "provider": "aws", "description": "Personal AWS account", "kind": "individual",
    "default_ttl": 7 * DAY, "max_ttl": 14 * DAY, "max_extensions": 3, "grace_period": 2 * DAY,
    "approval_required": False, "max_live": 0, "budget_usd": "250",
    "thresholds": [{"percent": 50, "action": "notify"}, {"percent": 100, "action": "freeze"}],
    "tags": {"cost-center": "sandbox"},
    "spec": {"console_login": True, "access_keys": False, "policies": []},
    "path": "/etc/sandbox/templates/aws-individual.toml",
}


def downgrade_to_0002(engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")


@pytest.fixture
def engine_at_0002(db_app):
    """The test's database taken back to revision 0002; at the newest one again afterwards."""
    downgrade_to_0002(db_app.engine)
    yield db_app.engine
    upgrade(db_app.engine)


def add_row(engine, now, sandbox_id: str, **columns) -> None:
    """A sandbox row as revision 0002 wrote it: only its columns (the model has more now)."""
    values = {"plan": {}, **columns} | dict(id=sandbox_id, name=f"alice-{sandbox_id}", provider="aws", template="aws-individual",
                  owner=ALICE.email, owner_subject=ALICE.email, department="engineering", state="active",
                  cloud_id="111122223333", location="/sandbox/active/engineering", created_at=now,
                  expires_at=now + timedelta(days=7), extension_count=0, approval_required=False, desired_tags={},
                  progress={}, attempts=0, version=0)
    at_0002 = sa.table("sandbox", *(sa.column(name, Sandbox.__table__.c[name].type) for name in values))
    member = Member.__table__
    with engine.begin() as connection:
        connection.execute(sa.insert(at_0002).values(**values))
        connection.execute(sa.insert(member).values(sandbox_id=sandbox_id, email=ALICE.email, role="owner",
                                                    added_at=now))


def test_upgrade_reads_a_0002_row_as_its_snapshot_and_downgrade_restores_it(engine_at_0002, db_app, clock):
    add_row(engine_at_0002, clock.now(), "0a0a0a0a", budget_usd=Decimal(250), plan=PLAN_0002)
    add_row(engine_at_0002, clock.now(), "0b0b0b0b")  # no snapshot at all

    assert upgrade(engine_at_0002) == ("0002", SCHEMA_REVISION)
    migrated = load(db_app, "0a0a0a0a")
    assert migrated.snapshot == TemplateSnapshot(
        max_ttl=timedelta(days=14), max_extensions=3, grace_period=timedelta(days=2),
        thresholds=(Threshold(50, "notify"), Threshold(100, "freeze")), spec=PLAN_0002["spec"])
    assert migrated.budget_usd == Decimal(250)
    assert load(db_app, "0b0b0b0b").plan == {}
    with pytest.raises(UsageError, match="more than 14d to live"):  # 7d left + 8d
        extend_sandbox(db_app, ALICE, "0a0a0a0a", "8d")

    downgrade_to_0002(engine_at_0002)
    restored = plan_at_0002(engine_at_0002, "0a0a0a0a")
    read_by_0002 = ("max_ttl", "max_extensions", "grace_period", "thresholds", "spec")
    assert {key: restored[key] for key in read_by_0002} == {key: PLAN_0002[key] for key in read_by_0002}
    assert Decimal(restored["budget_usd"]) == Decimal(250)
    assert plan_at_0002(engine_at_0002, "0b0b0b0b") == {}


def plan_at_0002(engine, sandbox_id: str) -> dict:
    with engine.connect() as connection:
        return connection.execute(sa.select(Sandbox.__table__.c.plan).where(Sandbox.__table__.c.id == sandbox_id)).scalar()


def test_upgrade_moves_a_budget_only_in_the_snapshot_into_the_column(engine_at_0002, db_app, clock):
    add_row(engine_at_0002, clock.now(), "0c0c0c0c", budget_usd=None, plan=PLAN_0002)
    upgrade(engine_at_0002)
    assert load(db_app, "0c0c0c0c").budget_usd == Decimal(250)
