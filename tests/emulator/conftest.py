"""One GCP emulator per test session, reset before every test.

Tests talk to it only through the real Google client libraries (gapic REST
clients and discovery clients) over HTTP; the /emulator/ control plane is used
to arrange faults and to read request counts.
"""

from __future__ import annotations

import json

import pytest
import requests
from google.api_core.client_options import ClientOptions
from google.api_core.future.polling import DEFAULT_POLLING
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3
from googleapiclient import discovery

from sandbox.emulators.gcp import DEFAULT_ORGANIZATION, GcpEmulator

# The default LRO polling sleeps up to 2 s before its first poll; this keeps
# operation.result() to a few milliseconds while still polling.
FAST_POLLING = DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05, multiplier=1.5)


@pytest.fixture(scope="session")
def gcp_emulator():
    emulator = GcpEmulator(host="127.0.0.1", port=0, polls_before_done=1)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(gcp_emulator):
    gcp_emulator.reset()
    return gcp_emulator


@pytest.fixture
def control(emulator):
    """POST/GET on the emulator's control plane."""

    class Control:
        def get(self, path):
            return requests.get(f"{emulator.url}/emulator/{path}", timeout=5).json()

        def post(self, path, body=None):
            response = requests.post(f"{emulator.url}/emulator/{path}", json=body or {}, timeout=5)
            assert response.status_code == 200, response.text
            return response.json()

        def delete(self, path):
            return requests.delete(f"{emulator.url}/emulator/{path}", timeout=5).json()

    return Control()


def _gapic_options(emulator):
    return ClientOptions(api_endpoint=emulator.url)


@pytest.fixture(scope="session")
def projects_client(gcp_emulator):
    return resourcemanager_v3.ProjectsClient(
        transport="rest", credentials=AnonymousCredentials(), client_options=_gapic_options(gcp_emulator))


@pytest.fixture(scope="session")
def folders_client(gcp_emulator):
    return resourcemanager_v3.FoldersClient(
        transport="rest", credentials=AnonymousCredentials(), client_options=_gapic_options(gcp_emulator))


def _discovery(emulator, name, version):
    return discovery.build(name, version, static_discovery=True, credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": emulator.url + "/"})


@pytest.fixture(scope="session")
def crm(gcp_emulator):
    return _discovery(gcp_emulator, "cloudresourcemanager", "v3")


@pytest.fixture(scope="session")
def billing(gcp_emulator):
    return _discovery(gcp_emulator, "cloudbilling", "v1")


@pytest.fixture(scope="session")
def serviceusage(gcp_emulator):
    return _discovery(gcp_emulator, "serviceusage", "v1")


@pytest.fixture
def folder(emulator, folders_client):
    """An ACTIVE folder under the organization."""
    request = resourcemanager_v3.Folder(display_name="Sandboxes", parent=DEFAULT_ORGANIZATION)
    return folders_client.create_folder(folder=request).result(polling=FAST_POLLING)


@pytest.fixture
def make_project(emulator, projects_client, folder):
    def make(project_id="sbx-alpha-1", parent=None, **fields):
        request = resourcemanager_v3.Project(project_id=project_id, parent=parent or folder.name, **fields)
        return projects_client.create_project(project=request).result(polling=FAST_POLLING)

    return make


def google_status(exc) -> str:
    """The canonical status ("ABORTED", ...) of an api_core or discovery error.

    Over HTTP, api_core picks the exception class from the HTTP status alone
    (409 -> Conflict, 400 -> BadRequest); the Google status is in the body.
    """
    response = getattr(exc, "response", None)
    content = response.content if response is not None and hasattr(response, "content") else exc.content
    return json.loads(content)["error"]["status"]
