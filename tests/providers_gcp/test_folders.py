"""bootstrap and list_managed against the emulator."""

import pytest
from google.cloud import resourcemanager_v3
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials

from sandbox.providers.gcp.provider import GcpProvider
from sandbox.errors import ProviderError


def test_bootstrap_creates_every_managed_folder_once(provider, control):
    first = provider.bootstrap()
    second = GcpProvider(provider.settings).bootstrap()  # a fresh provider: no cache

    folders = control.state()["folders"]
    paths = ["sandbox", "sandbox/active", "sandbox/active/default",
             "sandbox/active/engineering", "sandbox/frozen"]
    assert len(folders) == len(paths)
    for path in paths:
        name = control.folder_named(path)
        assert f"created folder {path} ({name})" in first
        assert f"exists folder {path} ({name})" in second
    assert len(first) == len(second) == len(paths)


def test_bootstrap_accepts_an_existing_folder_number(provider, control):
    provider.bootstrap()
    engineering = control.folder_named("sandbox/active/engineering")
    provider.settings.departments = {"eng": engineering}

    lines = GcpProvider(provider.settings).bootstrap()

    assert f"exists folder {engineering}" in lines


def test_bootstrap_refuses_a_folder_number_that_does_not_exist(provider):
    provider.settings.departments = {"eng": "folders/999"}

    with pytest.raises(ProviderError, match="folders/999 .*does not exist") as caught:
        provider.bootstrap()

    assert not caught.value.retryable


def test_list_managed_sees_a_project_created_directly_in_a_managed_folder(
        bootstrapped, control):
    folder = control.folder_named("sandbox/active/engineering")
    outsider = resourcemanager_v3.ProjectsClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=control.url))
    outsider.create_project(project=resourcemanager_v3.Project(
        project_id="stray-project-1", parent=folder, display_name="stray",
        labels={"team": "ops"})).result()
    outsider.create_project(project=resourcemanager_v3.Project(
        project_id="not-managed-1", parent="organizations/123456789012",
        display_name="elsewhere")).result()
    outsider.delete_project(name="projects/stray-project-1").result()

    found = {r.cloud_id: r for r in bootstrapped.list_managed()}

    assert set(found) == {"stray-project-1"}
    stray = found["stray-project-1"]
    assert (stray.location, stray.state, stray.tags, stray.name) == (
        "sandbox/active/engineering", "closed", {"team": "ops"}, "stray")


def test_list_managed_before_bootstrap_finds_nothing(provider):
    assert provider.list_managed() == []
