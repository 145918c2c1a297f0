"""freeze / unfreeze, tags, spend and destroy."""

from datetime import date, datetime, timedelta

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3
from google.protobuf import field_mask_pb2

from sandbox.providers.gcp.provider import GcpProvider
from sandbox.errors import ProviderError
from sandbox.provider import Placement

from .conftest import MemorySteps

PROJECT = "alice-smith-1a2b3c4d"


@pytest.fixture
def placement(bootstrapped, plan):
    return bootstrapped.provision(plan, MemorySteps())


def test_freeze_moves_the_project_to_the_frozen_folder_and_unfreeze_back(
        bootstrapped, placement, plan, control):
    steps = MemorySteps()
    bootstrapped.freeze(placement, plan, steps)
    frozen_parent = control.project(PROJECT)["parent"]
    bootstrapped.freeze(placement, plan, steps)  # twice: no second move, no error

    bootstrapped.unfreeze(placement, plan, steps)

    assert frozen_parent == control.folder_named("sandbox/frozen")
    assert control.project(PROJECT)["parent"] == control.folder_named("sandbox/active/default")


def test_freeze_without_a_frozen_folder_leaves_the_project_where_it_is(
        bootstrapped, placement, plan, control):
    bootstrapped.settings.frozen_folder = ""

    result = bootstrapped.freeze(placement, plan, MemorySteps())

    assert control.project(PROJECT)["parent"] == control.folder_named("sandbox/active/default")
    assert result["location"] == "sandbox/active/default"


def test_tag_repairs_drift_and_keeps_foreign_labels(bootstrapped, placement, plan, control):
    someone = resourcemanager_v3.ProjectsClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=control.url))
    drifted = dict(control.project(PROJECT)["labels"], **{"cost-center": "hacked", "team": "ml"})
    del drifted["environment"]
    someone.update_project(
        project=resourcemanager_v3.Project(name=f"projects/{PROJECT}", labels=drifted),
        update_mask=field_mask_pb2.FieldMask(paths=["labels"])).result()

    dropped = bootstrapped.tag(placement, plan.tags)

    assert dropped == {}
    labels = control.project(PROJECT)["labels"]
    desired = bootstrapped.desired_tags(plan.tags)
    assert {k: labels[k] for k in desired} == desired
    assert labels["team"] == "ml"
    assert bootstrapped.read_tags(placement) == labels


def test_spend_is_unknown_for_every_project(bootstrapped):
    placements = [Placement("p-one-000001"), Placement("p-two-000002")]

    report = bootstrapped.spend(placements, date(2026, 12, 1), date(2026, 12, 5))

    assert report.by_cloud_id == {"p-one-000001": None, "p-two-000002": None}
    assert (report.start, report.end, report.requests) == (date(2026, 12, 1), date(2026, 12, 5), 0)


def test_destroy_removes_access_unlinks_billing_and_deletes(bootstrapped, placement, plan, control):
    steps = MemorySteps()

    result = bootstrapped.destroy(placement, plan, steps)

    project = control.project(PROJECT)
    assert project["state"] == "DELETE_REQUESTED"
    assert control.state()["billing"][PROJECT] == ""
    members = set().union(*control.bindings(PROJECT).values())
    assert not {"user:alice.smith@example.com", "user:bob@example.com"} & members
    deleted = datetime.fromisoformat(project["deleteTime"].replace("Z", "+00:00"))
    assert result == {"project_state": "DELETE_REQUESTED",
                      "purge_after": (deleted + timedelta(days=30)).date().isoformat()}
    assert steps.get("members_removed") is True and steps.get("billing_unlinked") is True


def test_destroy_is_idempotent(bootstrapped, placement, plan, control):
    first = bootstrapped.destroy(placement, plan, MemorySteps())

    again = GcpProvider(bootstrapped.settings).destroy(placement, plan, MemorySteps())

    assert again == first
    assert control.project(PROJECT)["state"] == "DELETE_REQUESTED"


def test_destroy_of_a_purged_project_is_fine(bootstrapped, placement, plan, control):
    steps = MemorySteps()
    first = bootstrapped.destroy(placement, plan, steps)
    control.purge_deleted()

    result = bootstrapped.destroy(placement, plan, steps)

    assert result == first


def test_a_purged_project_is_not_taken_for_gone_without_our_own_record(
        bootstrapped, placement, plan, control):
    # Google answers 403 for a purged project as for one we lost access to: only the
    # destroy's own saved step tells the two apart.
    bootstrapped.destroy(placement, plan, MemorySteps())
    control.purge_deleted()
    made = MemorySteps()
    made.put("project_created", True)  # the provision's record, without the destroy's

    with pytest.raises(ProviderError, match="refuses .* PERMISSION_DENIED") as caught:
        bootstrapped.destroy(placement, plan, made)

    assert caught.value.code == "PERMISSION_DENIED"
    # Without even the provision's record the create may never have happened: nothing to end.
    assert bootstrapped.destroy(placement, plan, MemorySteps())["project_state"] == "NOT_FOUND"


def test_destroy_resumes_after_a_failed_delete(bootstrapped, placement, plan, control):
    control.fault(method="DELETE", path_regex=f"/v3/projects/{PROJECT}$", status=403, count=1,
                  status_name="PERMISSION_DENIED", message="Permission denied on delete.")
    steps = MemorySteps()
    with pytest.raises(ProviderError, match=r"projects\.delete: PERMISSION_DENIED") as caught:
        bootstrapped.destroy(placement, plan, steps)
    assert control.project(PROJECT)["state"] == "ACTIVE"
    assert steps.get("billing_unlinked") is True and steps.get("delete_requested") is None
    assert not caught.value.retryable

    result = bootstrapped.destroy(placement, plan, steps)

    assert result["project_state"] == "DELETE_REQUESTED"
    assert control.project(PROJECT)["state"] == "DELETE_REQUESTED"
    assert steps.get("delete_requested") == result["purge_after"]


def test_list_managed_reports_closed_projects(bootstrapped, placement, plan):
    bootstrapped.destroy(placement, plan, MemorySteps())

    (found,) = bootstrapped.list_managed()

    assert (found.cloud_id, found.state, found.location) == (
        PROJECT, "closed", "sandbox/active/default")
    assert found.tags["sandbox-id"] == "sbx-0001"
