"""Every cloud against its emulator, through one table.

EMULATOR_FIXTURES maps each cloud name to the fixture that points a provider at that
cloud's emulator and gives a view of what the emulator holds, read without the provider
(boto3 against moto, the GCP emulator's state dump, the toy root's files). A cloud
registered in the `sandbox.providers` entry points but missing from the table fails every
contract test: a new cloud is not done until it passes them.

The toy cloud (tests/toycloud) is a package of its own: `toycloud_site` pip-installs it
into a directory outside the venv, and `toycloud_on_path` puts that directory on sys.path
for one test only, so the other tests of the session keep seeing aws and gcp alone.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import pytest

from sandbox.config import parse_settings
from sandbox.provider import Cloud, Provider, clouds
from tests.providers.conftest import AwsAdmin
from tests.providers_gcp.conftest import Control

TOYCLOUD = Path(__file__).resolve().parents[1] / "toycloud"
DEPARTMENT = "default"

# Clouds that are test packages rather than part of the venv: the contract covers them too.
EXTRA_CLOUDS = ("toy",)
CLOUD_NAMES = sorted({*clouds(), *EXTRA_CLOUDS})

EMULATOR_FIXTURES = {"aws": "aws_cloud", "gcp": "gcp_cloud", "toy": "toy_cloud"}


def emulator_fixture_for(name: str) -> str:
    if name not in EMULATOR_FIXTURES:
        pytest.fail(f"no emulator fixture for cloud {name}: add one to EMULATOR_FIXTURES in {__file__}",
                    pytrace=False)
    return EMULATOR_FIXTURES[name]


class EmulatorView(Protocol):
    """What a cloud's emulator holds, read without the provider under test."""

    def resource_ids(self) -> set[str]:
        """Every account / project / resource the cloud holds, wherever it is."""

    def locations(self) -> set[str]:
        """Every OU / folder / location, spelled as list_managed spells them."""

    def has_access(self, cloud_id: str, email: str) -> bool: ...

    def forget(self, cloud_id: str) -> None:
        """Make the cloud lose the resource behind our back (purged, removed)."""


@dataclass
class CloudUnderTest:
    cloud: Cloud
    settings: Any  # the cloud's [name] table, pointing at its emulator
    provider: Provider
    frozen_location: str
    emulator: EmulatorView

    @property
    def department_location(self) -> str:
        return self.settings.department_location(DEPARTMENT)

    def listed(self, cloud_id: str) -> list[Any]:
        return [r for r in self.provider.list_managed() if r.cloud_id == cloud_id]


def cloud_under_test(name: str, table: dict[str, Any], frozen_key: str,
                     emulator: EmulatorView) -> CloudUnderTest:
    """The provider built as core builds it: from the cloud's config table, with one
    department placed by the cloud's own placement key."""
    cloud = clouds()[name]
    raw = {name: table, "departments": {DEPARTMENT: {cloud.placement_key: DEPARTMENT}}}
    settings = parse_settings(raw, "contract tests").cloud(name)
    return CloudUnderTest(cloud=cloud, settings=settings, provider=cloud.build(settings),
                          frozen_location=getattr(settings, frozen_key), emulator=emulator)


@pytest.fixture(params=CLOUD_NAMES)
def cloud(request) -> CloudUnderTest:
    return request.getfixturevalue(emulator_fixture_for(request.param))


# ---- aws: moto over HTTP -------------------------------------------------------------------

class AwsView:
    def __init__(self, admin: AwsAdmin):
        self.admin = admin

    def resource_ids(self) -> set[str]:
        return {a["Id"] for a in self.admin.accounts()} - {self.admin.management_account()}

    def locations(self) -> set[str]:
        return set(self.admin.ou_tree())

    def has_access(self, cloud_id: str, email: str) -> bool:
        from sandbox.providers.aws.members import iam_user_name

        iam = self.admin.member_iam(cloud_id)
        try:
            iam.get_login_profile(UserName=iam_user_name(email))
        except iam.exceptions.NoSuchEntityException:
            return False
        return True

    def forget(self, cloud_id: str) -> None:
        self.admin.org.remove_account_from_organization(AccountId=cloud_id)


@pytest.fixture
def aws_cloud(aws_url, monkeypatch) -> CloudUnderTest:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE"):  # moto takes any key; never send it a real one
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    table = {"endpoint_url": aws_url, "poll_seconds": 0.01, "poll_timeout_seconds": 5.0, "max_attempts": 2}
    return cloud_under_test("aws", table, "frozen_ou", AwsView(AwsAdmin(aws_url)))


# ---- gcp: the project's emulator over HTTP --------------------------------------------------

class GcpView(Control):
    def resource_ids(self) -> set[str]:
        return {p["projectId"] for p in self.state()["projects"]}

    def locations(self) -> set[str]:
        folders = {f["name"]: f for f in self.state()["folders"] if f["state"] == "ACTIVE"}

        def path(name: str) -> str:
            folder = folders[name]
            parent = folder["parent"]
            return f"{path(parent)}/{folder['displayName']}" if parent in folders else folder["displayName"]

        return {path(name) for name in folders}

    def has_access(self, cloud_id: str, email: str) -> bool:
        return any(f"user:{email}" in members for members in self.bindings(cloud_id).values())

    def forget(self, cloud_id: str) -> None:
        # Deleted out of band, as an admin would, through Google's REST path. Not purged: Google
        # then answers 403, the same as for a project whose owner took our access, which is
        # never taken for gone (the project is seen DELETE_REQUESTED for the 30 days before).
        if self.project(cloud_id)["state"] == "ACTIVE":
            self._request("DELETE", f"/v3/projects/{cloud_id}")


@pytest.fixture
def gcp_cloud(gcp_url) -> CloudUnderTest:
    from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_ORGANIZATION

    table = {"endpoint": gcp_url, "organization": DEFAULT_ORGANIZATION, "billing_account": DEFAULT_BILLING_ACCOUNT,
             "poll_seconds": 0.01, "poll_timeout_seconds": 10.0, "max_attempts": 4}
    return cloud_under_test("gcp", table, "frozen_folder", GcpView(gcp_url))


# ---- toy: a directory of JSON files, from a separately installed package ------------------

class ToyView:
    """The toy root as a person would look at it: <location>/<resource id>.json files."""

    def __init__(self, root: Path):
        self.root = root

    def files(self) -> dict[str, Path]:
        return {path.stem: path for path in self.root.rglob("*.json")}

    def resource(self, cloud_id: str) -> dict[str, Any]:
        return json.loads(self.files()[cloud_id].read_text())

    def location_of(self, cloud_id: str) -> str:
        return str(self.files()[cloud_id].parent.relative_to(self.root))

    def resource_ids(self) -> set[str]:
        return set(self.files())

    def locations(self) -> set[str]:
        return {str(path.relative_to(self.root)) for path in self.root.rglob("*") if path.is_dir()}

    def has_access(self, cloud_id: str, email: str) -> bool:
        return self.resource(cloud_id)["members"].get(email, {}).get("access", False)

    def forget(self, cloud_id: str) -> None:
        self.files()[cloud_id].unlink()


def _venv_builds_wheels() -> bool:
    """setuptools builds a wheel by itself from 70.1 on; older ones need the wheel package."""
    try:
        setuptools = tuple(int(part) for part in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return setuptools >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="session")
def toycloud_site(tmp_path_factory) -> Path:
    """tests/toycloud installed into a directory of its own, once per run: xdist workers
    share the run's temporary directory and take turns on a lock."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    site = shared / "toycloud-site"
    with open(shared / "toycloud-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not site.is_dir():
            _install_toycloud(shared, site)
    return site


def _install_toycloud(work: Path, site: Path) -> None:
    # From a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    source = work / "toycloud-source"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(TOYCLOUD, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    partial = work / "toycloud-site.partial"  # renamed when whole: a failed install is not reused
    shutil.rmtree(partial, ignore_errors=True)
    isolation = ["--no-build-isolation"] if _venv_builds_wheels() else []  # else pip fetches setuptools
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *isolation,
                           "--target", str(partial), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip install tests/toycloud failed:\n{done.stdout}\n{done.stderr}"
    partial.rename(site)


@pytest.fixture
def toycloud_on_path(toycloud_site):
    """The toy cloud registered for this test only: its entry point is read from sys.path."""
    sys.path.insert(0, str(toycloud_site))
    clouds.cache_clear()
    yield toycloud_site
    sys.path.remove(str(toycloud_site))
    clouds.cache_clear()


@pytest.fixture
def toy_cloud(toycloud_on_path, tmp_path) -> CloudUnderTest:
    root = tmp_path / "toy-root"
    return cloud_under_test("toy", {"root": str(root)}, "frozen_location", ToyView(root))
