"""serviceusage v1 through the discovery client."""

from __future__ import annotations

import pytest
from googleapiclient.errors import HttpError

from .conftest import google_status


def wait(serviceusage, operation):
    while not operation.get("done"):
        operation = serviceusage.operations().get(name=operation["name"]).execute()
    return operation


def enabled(serviceusage, parent):
    listed = serviceusage.services().list(parent=parent, filter="state:ENABLED").execute()
    return [s["config"]["name"] for s in listed.get("services", [])]  # {} when none


def test_enable_service_is_a_long_running_operation(serviceusage, make_project):
    project = make_project("sbx-alpha-1")

    operation = serviceusage.services().enable(
        name="projects/sbx-alpha-1/services/pubsub.googleapis.com", body={}).execute()
    done = wait(serviceusage, operation)

    assert not operation.get("done")
    assert done["response"]["@type"] == "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse"
    # Google names projects by number in serviceusage responses.
    assert done["response"]["service"]["name"] == f"{project.name}/services/pubsub.googleapis.com"
    assert done["response"]["service"]["state"] == "ENABLED"


def test_enabling_an_enabled_service_returns_the_noop_operation(serviceusage, make_project):
    make_project("sbx-alpha-1")
    name = "projects/sbx-alpha-1/services/storage.googleapis.com"
    wait(serviceusage, serviceusage.services().enable(name=name, body={}).execute())

    again = serviceusage.services().enable(name=name, body={}).execute()

    assert again["name"] == "operations/noop.DONE_OPERATION" and again["done"] is True
    assert serviceusage.operations().get(name=again["name"]).execute()["done"] is True


def test_batch_enable_and_list_enabled(serviceusage, make_project):
    make_project("sbx-alpha-1")
    assert enabled(serviceusage, "projects/sbx-alpha-1") == []

    operation = serviceusage.services().batchEnable(
        parent="projects/sbx-alpha-1",
        body={"serviceIds": ["bigquery.googleapis.com", "iam.googleapis.com"]}).execute()
    done = wait(serviceusage, operation)

    assert len(done["response"]["services"]) == 2
    assert enabled(serviceusage, "projects/sbx-alpha-1") == ["bigquery.googleapis.com", "iam.googleapis.com"]


def test_batch_enable_is_atomic_and_limited_to_20(serviceusage, make_project):
    make_project("sbx-alpha-1")

    with pytest.raises(HttpError) as unknown:
        serviceusage.services().batchEnable(
            parent="projects/sbx-alpha-1",
            body={"serviceIds": ["iam.googleapis.com", "nosuch.googleapis.com"]}).execute()
    with pytest.raises(HttpError) as too_many:
        serviceusage.services().batchEnable(
            parent="projects/sbx-alpha-1", body={"serviceIds": [f"s{i}.googleapis.com" for i in range(21)]}).execute()

    assert unknown.value.status_code == 403 and too_many.value.status_code == 400
    assert enabled(serviceusage, "projects/sbx-alpha-1") == []


def test_get_service_state_and_unknown_service(serviceusage, make_project):
    make_project("sbx-alpha-1")

    service = serviceusage.services().get(name="projects/sbx-alpha-1/services/run.googleapis.com").execute()
    with pytest.raises(HttpError) as error:
        serviceusage.services().enable(name="projects/sbx-alpha-1/services/compute.googleapi.com", body={}).execute()

    assert service["state"] == "DISABLED"
    assert error.value.status_code == 403
    assert error.value.error_details[0]["reason"] == "SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED"


def test_disable_needs_enabled_service_and_respects_dependents(serviceusage, make_project):
    make_project("sbx-alpha-1")
    services = serviceusage.services()
    with pytest.raises(HttpError) as not_enabled:
        services.disable(name="projects/sbx-alpha-1/services/run.googleapis.com", body={}).execute()
    wait(serviceusage, services.enable(name="projects/sbx-alpha-1/services/container.googleapis.com", body={}).execute())
    assert enabled(serviceusage, "projects/sbx-alpha-1") == ["compute.googleapis.com", "container.googleapis.com"]

    with pytest.raises(HttpError) as has_dependents:
        services.disable(name="projects/sbx-alpha-1/services/compute.googleapis.com", body={}).execute()
    wait(serviceusage, services.disable(name="projects/sbx-alpha-1/services/compute.googleapis.com",
                                        body={"disableDependentServices": True}).execute())

    assert google_status(not_enabled.value) == google_status(has_dependents.value) == "FAILED_PRECONDITION"
    assert enabled(serviceusage, "projects/sbx-alpha-1") == []


def test_services_of_deleted_or_unknown_project_are_denied(serviceusage, projects_client, make_project):
    make_project("sbx-alpha-1")
    projects_client.delete_project(name="projects/sbx-alpha-1")

    for parent in ("projects/sbx-alpha-1", "projects/no-such-project"):
        with pytest.raises(HttpError) as error:
            serviceusage.services().list(parent=parent).execute()
        assert error.value.status_code == 403


def test_list_all_services_is_paged(serviceusage, make_project):
    make_project("sbx-alpha-1")

    first = serviceusage.services().list(parent="projects/sbx-alpha-1", pageSize=5).execute()
    second = serviceusage.services().list(parent="projects/sbx-alpha-1", pageSize=5,
                                          pageToken=first["nextPageToken"]).execute()

    assert len(first["services"]) == 5
    assert {s["name"] for s in first["services"]}.isdisjoint(s["name"] for s in second["services"])
