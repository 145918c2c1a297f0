"""The /emulator/ control plane: faults, config, stats, reset, state; and concurrency."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from google.api_core import exceptions
from google.cloud import resourcemanager_v3
from google.iam.v1 import policy_pb2
from googleapiclient.errors import HttpError

from sandbox.emulators.gcp import DEFAULT_ORGANIZATION

from .conftest import FAST_POLLING, google_status

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_injected_409_on_set_iam_policy_then_recovers(projects_client, make_project, control):
    make_project("sbx-alpha-1")
    control.post("faults", {"method": "POST", "path_regex": r":setIamPolicy$", "status": 409, "count": 1})
    policy = policy_pb2.Policy(bindings=[policy_pb2.Binding(role="roles/viewer", members=["user:a@example.com"])])

    with pytest.raises(exceptions.Conflict) as error:
        projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": policy})
    projects_client.set_iam_policy(request={"resource": "projects/sbx-alpha-1", "policy": policy})

    assert google_status(error.value) == "ABORTED"
    assert control.get("faults") == {"faults": []}


def test_injected_429_on_create_is_too_many_requests(projects_client, folder, control):
    control.post("faults", {"method": "POST", "path_regex": r"^/v3/projects$", "status": 429})

    with pytest.raises(exceptions.TooManyRequests) as error:
        projects_client.create_project(project=resourcemanager_v3.Project(project_id="sbx-alpha-1", parent=folder.name))

    assert google_status(error.value) == "RESOURCE_EXHAUSTED"


def test_gapic_retries_503_on_reads_by_itself(projects_client, make_project, control):
    make_project("sbx-alpha-1")
    control.post("faults", {"method": "GET", "path_regex": r"^/v3/projects/sbx-alpha-1$", "status": 503, "count": 2})

    project = projects_client.get_project(name="projects/sbx-alpha-1")  # default retry on UNAVAILABLE

    assert project.project_id == "sbx-alpha-1"
    assert control.get("stats")["requests"]["GET /v3/projects/{project}"] == 3


def test_discovery_client_sees_injected_503(billing, make_project, control):
    make_project("sbx-alpha-1")
    control.post("faults", {"faults": [{"path_regex": "billingInfo", "status": 503, "count": 1}]})

    with pytest.raises(HttpError) as error:
        billing.projects().getBillingInfo(name="projects/sbx-alpha-1").execute()

    assert error.value.status_code == 503
    assert billing.projects().getBillingInfo(name="projects/sbx-alpha-1").execute()["projectId"] == "sbx-alpha-1"


def test_reset_clears_state_faults_and_stats(projects_client, make_project, control):
    make_project("sbx-alpha-1")
    control.post("faults", {"path_regex": "never-matches", "count": 5})

    control.post("reset")

    state = control.get("state")
    assert (state["projects"], state["folders"], state["faults"]) == ([], [], [])
    assert control.get("stats") == {"total": 0, "requests": {}}
    with pytest.raises(exceptions.Forbidden):
        projects_client.get_project(name="projects/sbx-alpha-1")


def test_state_dump_shows_projects_policies_billing_and_services(billing, serviceusage, make_project, control):
    make_project("sbx-alpha-1", labels={"owner": "bob"})
    billing.projects().updateBillingInfo(name="projects/sbx-alpha-1",
                                         body={"billingAccountName": "billingAccounts/000000-000000-000001"}).execute()
    serviceusage.services().enable(name="projects/sbx-alpha-1/services/iam.googleapis.com", body={}).execute()

    state = control.get("state")

    assert [p["labels"] for p in state["projects"]] == [{"owner": "bob"}]
    assert state["billing"] == {"sbx-alpha-1": "billingAccounts/000000-000000-000001"}
    assert state["services"] == {"sbx-alpha-1": ["iam.googleapis.com"]}
    assert state["iam_policies"]["sbx-alpha-1"]["bindings"][0]["role"] == "roles/owner"
    assert state["organization"]["name"] == DEFAULT_ORGANIZATION


def test_stats_count_requests_per_route_template(projects_client, make_project, control):
    make_project("sbx-alpha-1")
    make_project("sbx-bravo-1")
    control.delete("stats")

    for project_id in ("sbx-alpha-1", "sbx-bravo-1", "sbx-alpha-1"):
        projects_client.get_project(name=f"projects/{project_id}")

    assert control.get("stats") == {"total": 3, "requests": {"GET /v3/projects/{project}": 3}}


def test_polls_before_done_is_configurable(projects_client, folder, control):
    control.post("config", {"polls_before_done": 3})
    control.delete("stats")

    projects_client.create_project(
        project=resourcemanager_v3.Project(project_id="sbx-alpha-1", parent=folder.name)).result(polling=FAST_POLLING)

    assert control.get("stats")["requests"]["GET /v3/operations/{operation}"] == 3


def test_latency_is_added_per_request(projects_client, make_project, control):
    make_project("sbx-alpha-1")
    control.post("config", {"latency_ms": 50})

    started = time.perf_counter()
    projects_client.get_project(name="projects/sbx-alpha-1")

    assert time.perf_counter() - started >= 0.05


def test_purged_projects_vanish_but_keep_their_id(projects_client, make_project, folder, control):
    make_project("sbx-alpha-1")
    projects_client.delete_project(name="projects/sbx-alpha-1").result(polling=FAST_POLLING)

    assert control.post("purge-deleted") == {"purged": ["sbx-alpha-1"]}

    with pytest.raises(exceptions.Forbidden):
        projects_client.get_project(name="projects/sbx-alpha-1")
    with pytest.raises(exceptions.Conflict):
        projects_client.create_project(project=resourcemanager_v3.Project(project_id="sbx-alpha-1", parent=folder.name))


def test_concurrent_creates_get_distinct_numbers_and_one_winner_per_id(projects_client, folder, emulator):
    def create(index):
        project_id = f"sbx-race-{index % 10}"
        try:
            operation = projects_client.create_project(
                project=resourcemanager_v3.Project(project_id=project_id, parent=folder.name))
            return operation.result(polling=FAST_POLLING).name
        except exceptions.Conflict:
            return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        names = [n for n in pool.map(create, range(30)) if n]

    assert len(names) == len(set(names)) == 10
    with emulator.state.lock:
        assert len(emulator.state.projects) == 10


def test_serve_forever_prints_its_url_and_serves():
    process = subprocess.Popen([sys.executable, "-m", "sandbox.emulators.gcp", "--port", "0"], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("GCP emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert requests.get(f"{url}/emulator/stats", timeout=5).json()["total"] == 0
    finally:
        process.terminate()
        process.wait(timeout=5)
