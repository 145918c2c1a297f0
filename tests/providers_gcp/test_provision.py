"""provision: the project, its labels, billing, services and bindings; resuming; errors."""

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3

from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT
from sandbox.providers.gcp.provider import GcpProvider
from sandbox.providers.gcp.naming import valid_label
from sandbox.errors import ProviderError
from sandbox.provider import Placement

from .conftest import MEMBER, OWNER, MemorySteps, make_plan, template_spec

PROJECT = "alice-smith-1a2b3c4d"


def test_provision_builds_the_whole_project(bootstrapped, control, plan):
    steps = MemorySteps()

    placement = bootstrapped.provision(plan, steps)

    assert placement == Placement(cloud_id=PROJECT, location="sandbox/active/default")
    project = control.project(PROJECT)
    assert project["parent"] == control.folder_named("sandbox/active/default")
    assert project["state"] == "ACTIVE"
    assert project["labels"] == {
        "cost-center": "sandbox-teams", "environment": "sandbox", "sandbox-id": "sbx-0001",
        "sandbox-owner": "alice-smith_at_example-com", "sandbox-department": "default",
        "sandbox-template": "gcp-group", "sandbox-expires": "2026-12-05t09-00-00z"}
    assert all(valid_label(k, v) for k, v in project["labels"].items())
    state = control.state()
    assert state["billing"][PROJECT] == DEFAULT_BILLING_ACCOUNT
    assert set(plan.spec["services"]) <= set(state["services"][PROJECT])
    bindings = control.bindings(PROJECT)
    assert "user:alice.smith@example.com" in bindings["roles/owner"]
    assert bindings["roles/editor"] == {"user:bob@example.com"}
    assert steps.get("project_id") == PROJECT
    for key in ("project_created", "member:alice.smith@example.com", "member:bob@example.com"):
        assert steps.get(key) is True
    assert steps.get("billing_linked") == DEFAULT_BILLING_ACCOUNT
    assert steps.get("services_enabled") == plan.spec["services"]


def test_labels_match_desired_tags_so_there_is_no_drift(bootstrapped, plan):
    placement = bootstrapped.provision(plan, MemorySteps())

    held = bootstrapped.read_tags(placement)

    desired = bootstrapped.desired_tags(plan.tags)
    assert {k: held[k] for k in desired} == desired


def test_retry_after_a_crash_finds_the_project_it_created(bootstrapped, control, plan):
    # The first attempt saved the id and created the project, then the process died.
    crashed = MemorySteps()
    bootstrapped.provision(plan, crashed)
    steps = MemorySteps({"project_id": crashed.get("project_id")})

    placement = GcpProvider(bootstrapped.settings).provision(plan, steps)

    assert placement.cloud_id == PROJECT
    assert [p["projectId"] for p in control.state()["projects"]] == [PROJECT]
    assert steps.get("project_created") is True
    assert steps.get("member:bob@example.com") is True


def test_already_exists_on_create_for_our_own_project_carries_on(bootstrapped, control, plan):
    # The create succeeded but its answer was lost: steps never saw a project_id,
    # so the retry calls create again and gets ALREADY_EXISTS.
    bootstrapped.provision(plan, MemorySteps())

    steps = MemorySteps()
    GcpProvider(bootstrapped.settings).provision(plan, steps)

    assert len(control.state()["projects"]) == 1
    assert steps.get("project_created") is True


def test_a_project_id_taken_by_someone_else_is_a_non_retryable_error(bootstrapped, control, plan):
    other = resourcemanager_v3.ProjectsClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=control.url))
    other.create_project(project=resourcemanager_v3.Project(
        project_id=PROJECT, parent=control.folder_named("sandbox/active/default"),
        labels={"sandbox-id": "someone-else"})).result()

    with pytest.raises(ProviderError, match=f"{PROJECT} already exists but is not") as caught:
        bootstrapped.provision(plan, MemorySteps({"project_id": PROJECT}))

    assert not caught.value.retryable
    assert control.state()["billing"][PROJECT] == ""


def test_a_project_id_taken_on_create_by_someone_else_is_an_error(bootstrapped, control, plan):
    other = resourcemanager_v3.ProjectsClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=control.url))
    other.create_project(project=resourcemanager_v3.Project(
        project_id=PROJECT, parent="organizations/123456789012")).result()

    with pytest.raises(ProviderError, match="already exists but is not sandbox sbx-0001") as caught:
        bootstrapped.provision(plan, MemorySteps())

    assert caught.value.code == "ALREADY_EXISTS" and not caught.value.retryable


def test_a_handle_with_nothing_usable_fails_before_any_call(bootstrapped, control):
    plan = make_plan(name="google-1a2b3c4d")
    steps = MemorySteps()

    with pytest.raises(ProviderError, match="cannot make a GCP project id") as caught:
        bootstrapped.provision(plan, steps)

    assert not caught.value.retryable
    assert control.state()["projects"] == [] and steps.keys() == []


def test_an_over_long_label_value_is_truncated_not_refused(bootstrapped, control):
    long_value = "engineering-" * 10
    plan = make_plan(tags={"cost-center": long_value})

    bootstrapped.provision(plan, MemorySteps())

    label = control.project(PROJECT)["labels"]["cost-center"]
    assert len(label) == 63 and label.startswith("engineering-engineering-")
    assert label == bootstrapped.desired_tags({"cost-center": long_value})["cost-center"]


def test_a_missing_folder_is_a_clear_error(provider, control, plan):
    # No bootstrap: sandbox/active/default does not exist.
    with pytest.raises(ProviderError) as caught:
        provider.provision(plan, MemorySteps())

    assert str(caught.value) == ("GCP folder sandbox/active/default does not exist; "
                                 "run: sandbox admin bootstrap")
    assert not caught.value.retryable
    assert control.state()["projects"] == []


def test_an_unknown_billing_account_is_a_clear_error(bootstrapped, control, plan):
    bootstrapped.settings.billing_account = "billingAccounts/0000AA-BBBBBB-CCCCCC"
    steps = MemorySteps()

    with pytest.raises(ProviderError, match="billingAccounts/0000AA-BBBBBB-CCCCCC") as caught:
        bootstrapped.provision(plan, steps)

    assert "fix gcp.billing_account" in str(caught.value)
    assert not caught.value.retryable
    assert steps.get("project_created") is True and steps.get("billing_linked") is None


def test_without_a_billing_account_billing_is_skipped(bootstrapped, control, plan):
    bootstrapped.settings.billing_account = ""
    steps = MemorySteps()

    bootstrapped.provision(plan, steps)

    assert control.state()["billing"][PROJECT] == ""
    assert steps.get("billing_linked") == ""
    assert any("without billing" in m for m in steps.messages)


def test_a_503_injected_once_is_retried(bootstrapped, control, plan):
    control.fault(method="POST", path_regex="^/v3/projects$", status=503, count=1)
    control.fault(method="PUT", path_regex="billingInfo$", status=503, count=1)
    control.fault(method="POST", path_regex=":batchEnable$", status=503, count=1)
    control.fault(method="GET", path_regex="^/v3/operations/", status=503, count=1)  # a lost answer
    control.fault(method="POST", path_regex=":setIamPolicy$", status=429, count=1)

    bootstrapped.provision(plan, MemorySteps())

    assert control.faults() == []
    assert [p["projectId"] for p in control.state()["projects"]] == [PROJECT]
    assert control.project(PROJECT)["state"] == "ACTIVE"
    assert control.state()["billing"][PROJECT] == DEFAULT_BILLING_ACCOUNT
    assert "user:bob@example.com" in control.bindings(PROJECT)["roles/editor"]


def test_a_503_that_persists_ends_in_a_retryable_error_naming_the_call(bootstrapped, control, plan):
    control.fault(method="PUT", path_regex="billingInfo$", status=503, count=100)

    with pytest.raises(ProviderError) as caught:
        bootstrapped.provision(plan, MemorySteps())

    message = str(caught.value)
    assert message.startswith(
        f"GCP billing.updateBillingInfo for {PROJECT} failed: 503 UNAVAILABLE")
    assert "\n" not in message
    assert caught.value.retryable and caught.value.code == "UNAVAILABLE"
    assert control.faults()[0]["count"] == 100 - bootstrapped.settings.max_attempts


def test_a_failed_create_operation_is_reported(bootstrapped, control, plan):
    control.fault(method="POST", path_regex="^/v3/projects$", count=1,
                  operation_error={"code": 9, "message": "Quota exceeded for projects."})

    with pytest.raises(ProviderError, match="projects.create .* FAILED_PRECONDITION: Quota") \
            as caught:
        bootstrapped.provision(plan, MemorySteps())

    assert not caught.value.retryable


def test_an_unknown_service_is_a_non_retryable_error(bootstrapped, control):
    spec, _ = template_spec("gcp-individual")
    plan = make_plan()
    plan = type(plan)(**{**plan.__dict__, "spec": {**spec, "services": ["nosuch.googleapis.com"]}})

    with pytest.raises(ProviderError, match="services.batchEnable") as caught:
        bootstrapped.provision(plan, MemorySteps())

    assert not caught.value.retryable


def test_an_individual_template_grants_only_the_owner(bootstrapped, control):
    plan = make_plan(template="gcp-individual", members=(OWNER,))

    bootstrapped.provision(plan, MemorySteps())

    bindings = control.bindings(PROJECT)
    assert "user:alice.smith@example.com" in bindings["roles/owner"]
    assert "roles/editor" not in bindings
    assert MEMBER.email not in str(bindings)


def test_an_unreachable_endpoint_is_a_retryable_connection_error(gcp_settings, plan):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gcp_settings.endpoint = f"http://127.0.0.1:{port}"
    gcp_settings.max_attempts = 2

    with pytest.raises(ProviderError, match="cannot reach Google") as caught:
        GcpProvider(gcp_settings).provision(plan, MemorySteps())

    assert caught.value.retryable and caught.value.code == "CONNECTION_ERROR"
    assert "\n" not in str(caught.value)


def test_an_endpoint_without_a_scheme_is_a_config_error(gcp_settings, plan):
    from sandbox.errors import ConfigError

    gcp_settings.endpoint = "127.0.0.1:8080"

    with pytest.raises(ConfigError, match="must start with http://"):
        GcpProvider(gcp_settings).bootstrap()


def test_a_slow_create_times_out_retryably_and_a_retry_resumes(bootstrapped, control, plan):
    control.config(polls_before_done=10_000)
    bootstrapped.settings.poll_timeout_seconds = 0.2
    steps = MemorySteps()

    with pytest.raises(ProviderError, match="poll_timeout_seconds") as caught:
        bootstrapped.provision(plan, steps)
    assert caught.value.retryable and caught.value.code == "POLL_TIMEOUT"
    assert steps.get("project_id") == PROJECT and steps.get("project_created") is None

    control.config(polls_before_done=1)
    bootstrapped.provision(plan, steps)

    assert [p["projectId"] for p in control.state()["projects"]] == [PROJECT]
    assert steps.get("project_created") is True
