"""The Provider contract (sandbox/provider.py), proven for every cloud against its emulator.

Each test asserts what the cloud holds afterwards, through the provider's own reads
(list_managed, read_tags, access_info) and through the emulator's state read without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from sandbox.errors import ProviderError
from sandbox.fields import TableReader
from sandbox.provider import Member, Placement, Plan
from tests.contract.conftest import DEPARTMENT, CloudUnderTest, emulator_fixture_for
from tests.memory_steps import MemorySteps

OWNER = Member("alice@example.com", "owner")
MEMBER = Member("bob@example.com", "member")


def make_plan(cloud: CloudUnderTest, number: int = 1) -> Plan:
    """A group sandbox on the template defaults of the cloud's [name] table; the keys and
    formats of sandbox.service.plans.cost_tags. A space in a value: clouds differ on it."""
    sandbox_id = f"{number:08x}"
    tags = {"cost-center": "contract tests", "sandbox-id": sandbox_id, "sandbox-owner": OWNER.email,
            "sandbox-department": DEPARTMENT, "sandbox-template": f"{cloud.cloud.name}-group",
            "sandbox-expires": "2026-12-05T09:00Z"}
    spec = cloud.cloud.read_spec(TableReader("contract tests", {}), "group")
    return Plan(sandbox_id=sandbox_id, name=f"alice-{sandbox_id}", department=DEPARTMENT,
                location=cloud.department_location, members=(OWNER, MEMBER), tags=tags, spec=spec)


def progress_of(steps: MemorySteps) -> dict[str, Any]:
    return {key: steps.get(key) for key in steps.keys()}


class CrashAfterPut(Exception):
    """The process dying right after a step was committed."""


class CrashingSteps:
    """A StepStore that stores each put, then dies after the `crash_after`-th (None: never)."""

    def __init__(self, inner: MemorySteps, crash_after: int | None):
        self.inner = inner
        self.crash_after = crash_after
        self.puts: list[str] = []

    def put(self, key: str, value: Any) -> None:
        self.inner.put(key, value)
        self.puts.append(key)
        if len(self.puts) == self.crash_after:
            raise CrashAfterPut(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Provisioned:
    cloud: CloudUnderTest
    plan: Plan
    placement: Placement
    steps: MemorySteps


@pytest.fixture
def bootstrapped(cloud) -> CloudUnderTest:
    cloud.provider.bootstrap()
    return cloud


@pytest.fixture
def provisioned(bootstrapped) -> Provisioned:
    plan, steps = make_plan(bootstrapped), MemorySteps()
    return Provisioned(bootstrapped, plan, bootstrapped.provider.provision(plan, steps), steps)


def location_of(cloud: CloudUnderTest, cloud_id: str) -> str:
    [resource] = cloud.listed(cloud_id)
    return resource.location


def assert_closed_or_gone(cloud: CloudUnderTest, placement: Placement) -> None:
    """What sandbox/sweeps/reconcile.py tells apart: listed as closed, or not listed and
    read_tags failing with one of the cloud's gone codes (any other answer means "moved
    out of the managed locations, still alive")."""
    listed = cloud.listed(placement.cloud_id)
    if listed:
        assert [r.state for r in listed] == ["closed"]
        return
    with pytest.raises(ProviderError) as failed:
        cloud.provider.read_tags(placement)
    assert failed.value.code in cloud.cloud.gone_codes and not failed.value.retryable, failed.value


def test_a_cloud_without_an_emulator_fixture_fails_rather_than_skips():
    with pytest.raises(pytest.fail.Exception, match="no emulator fixture for cloud nimbus"):
        emulator_fixture_for("nimbus")


def test_bootstrap_twice_makes_the_same_locations_and_manages_nothing_yet(cloud):
    first = cloud.provider.bootstrap()
    locations = cloud.emulator.locations()
    second = cloud.provider.bootstrap()

    assert cloud.emulator.locations() == locations
    assert {cloud.department_location, cloud.frozen_location} <= locations
    assert len(second) == len(first)  # one line per location, made or found
    assert cloud.provider.list_managed() == []


def test_provision_places_and_tags_one_resource_in_the_department(bootstrapped):
    cloud, plan, steps = bootstrapped, make_plan(bootstrapped), MemorySteps()

    placement = cloud.provider.provision(plan, steps)

    desired = cloud.provider.desired_tags(plan.tags)
    [resource] = cloud.listed(placement.cloud_id)
    assert (resource.location, resource.state) == (cloud.department_location, "active")
    assert placement.location == cloud.department_location
    assert resource.tags.items() >= desired.items()  # the tag sweep compares the listing's tags
    assert cloud.provider.read_tags(placement).items() >= desired.items()
    assert cloud.emulator.resource_ids() == {placement.cloud_id}
    assert all(cloud.emulator.has_access(placement.cloud_id, m.email) for m in plan.members)
    # Core finds a half-provisioned sandbox's resource (orphans, destroy) from its steps.
    assert cloud.cloud.cloud_id_from(progress_of(steps)) == placement.cloud_id


def test_provision_resumed_after_a_crash_after_any_step_makes_one_whole_resource(bootstrapped):
    cloud = bootstrapped
    clean = CrashingSteps(MemorySteps(), crash_after=None)
    cloud.provider.provision(make_plan(cloud, 0), clean)
    assert clean.puts, "a provision that stores no step cannot resume"

    for crash_after in range(1, len(clean.puts) + 1):
        plan, stored = make_plan(cloud, crash_after), MemorySteps()
        before = cloud.emulator.resource_ids()
        with pytest.raises(CrashAfterPut):
            cloud.provider.provision(plan, CrashingSteps(stored, crash_after))
        remembered = cloud.cloud.cloud_id_from(progress_of(stored))

        placement = cloud.provider.provision(plan, stored)

        step = f"crash after put {crash_after} ({clean.puts[crash_after - 1]})"
        assert cloud.emulator.resource_ids() - before == {placement.cloud_id}, step
        assert remembered in (None, placement.cloud_id), step
        assert [(r.location, r.state) for r in cloud.listed(placement.cloud_id)] == [
            (cloud.department_location, "active")], step
        assert cloud.provider.read_tags(placement).items() >= cloud.provider.desired_tags(plan.tags).items(), step
        assert all(cloud.emulator.has_access(placement.cloud_id, m.email) for m in plan.members), step


def test_freeze_moves_the_resource_and_takes_everyones_access_and_unfreeze_gives_it_back(provisioned):
    cloud, plan, placement, steps = provisioned.cloud, provisioned.plan, provisioned.placement, provisioned.steps

    said = cloud.provider.freeze(placement, plan, steps)
    again = cloud.provider.freeze(placement, plan, steps)  # a retried freeze is harmless
    frozen = location_of(cloud, placement.cloud_id)
    access_frozen = {m.email: cloud.emulator.has_access(placement.cloud_id, m.email) for m in plan.members}
    back = cloud.provider.unfreeze(placement, plan, steps)

    assert frozen == cloud.frozen_location
    # Where the resource is now, as its config names it: `sandbox show` of a frozen sandbox says it.
    assert said["location"] == again["location"] == cloud.frozen_location
    assert access_frozen == {m.email: False for m in plan.members}
    assert location_of(cloud, placement.cloud_id) == cloud.department_location
    assert all(cloud.emulator.has_access(placement.cloud_id, m.email) for m in plan.members)
    for detail in (said, again, back):  # what the provider did goes into the audit trail
        assert json.loads(json.dumps(detail)) == detail and "tampering" not in detail
    assert not {key: value for key, value in progress_of(steps).items() if key.startswith("freeze:") and value}


def test_guardrails_are_in_place_after_bootstrap(provisioned):
    assert provisioned.cloud.provider.check_guardrails() == {}


def test_revoke_takes_one_members_access_and_grant_gives_it_back(provisioned):
    cloud, plan, placement = provisioned.cloud, provisioned.plan, provisioned.placement

    cloud.provider.revoke(placement, plan, MEMBER)
    revoked = {m.email: cloud.emulator.has_access(placement.cloud_id, m.email) for m in plan.members}
    cloud.provider.grant(placement, plan, MEMBER, provisioned.steps)

    assert revoked == {OWNER.email: True, MEMBER.email: False}
    assert cloud.emulator.has_access(placement.cloud_id, MEMBER.email)
    assert [r.state for r in cloud.listed(placement.cloud_id)] == ["active"]  # revoking keeps what it owns


def test_access_info_tells_the_owner_how_to_reach_the_resource(provisioned):
    cloud, placement = provisioned.cloud, provisioned.placement

    info = cloud.provider.access_info(placement, provisioned.plan, OWNER, provisioned.steps)

    assert placement.cloud_id in info.values()
    assert json.loads(json.dumps(info)) == info  # `sandbox credentials -o json` prints it as is


def test_tag_sets_changed_tags_and_the_desired_ones_repair_them(provisioned):
    cloud, plan, placement = provisioned.cloud, provisioned.plan, provisioned.placement
    changed = {**plan.tags, "cost-center": "someone-else", "sandbox-expires": "2027-01-01T00:00Z"}

    dropped = cloud.provider.tag(placement, changed)
    drifted = cloud.provider.read_tags(placement)
    cloud.provider.tag(placement, plan.tags)

    assert dropped == {}  # a few tags fit every cloud: nobody's are dropped
    assert drifted.items() >= cloud.provider.desired_tags(changed).items()
    desired = cloud.provider.desired_tags(plan.tags)
    assert cloud.provider.read_tags(placement).items() >= desired.items()
    [resource] = cloud.listed(placement.cloud_id)
    assert resource.tags.items() >= desired.items()


def test_destroy_twice_takes_access_and_leaves_the_resource_closed_or_gone(provisioned):
    cloud, plan, placement, steps = provisioned.cloud, provisioned.plan, provisioned.placement, provisioned.steps

    first = cloud.provider.destroy(placement, plan, steps)
    second = cloud.provider.destroy(placement, plan, steps)

    for said in (first, second):  # what the cloud said goes into the audit trail
        assert json.loads(json.dumps(said)) == said
    assert_closed_or_gone(cloud, placement)
    if placement.cloud_id in cloud.emulator.resource_ids():
        assert not any(cloud.emulator.has_access(placement.cloud_id, m.email) for m in plan.members)


def test_a_resource_the_cloud_lost_is_gone_to_reconcile_and_still_destroys(provisioned):
    cloud, plan, placement, steps = provisioned.cloud, provisioned.plan, provisioned.placement, provisioned.steps

    cloud.emulator.forget(placement.cloud_id)

    assert [r.state for r in cloud.listed(placement.cloud_id)] in ([], ["closed"])
    assert_closed_or_gone(cloud, placement)
    # reconcile hands a gone sandbox to the ordinary teardown, which must then finish.
    cloud.provider.destroy(placement, plan, steps)


def test_spend_answers_for_every_placement_and_every_day(provisioned):
    cloud, placement = provisioned.cloud, provisioned.placement
    start, end = date(2026, 1, 1), date(2026, 1, 4)

    report = cloud.provider.spend([placement], start, end)

    assert (report.start, report.end) == (start, end)
    assert set(report.by_cloud_id) == {placement.cloud_id}
    daily = report.by_cloud_id[placement.cloud_id]
    assert daily is None or set(daily) == {date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)}
