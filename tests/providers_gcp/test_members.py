"""grant / revoke / access_info, and IAM read-modify-write under concurrent writers."""

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3

from sandbox.providers.gcp.iam import add_members
from sandbox.errors import ProviderError
from sandbox.provider import Member

from .conftest import MEMBER, OWNER, MemorySteps

PROJECT = "alice-smith-1a2b3c4d"
CAROL = Member("carol@example.com", "member")


@pytest.fixture
def placement(bootstrapped, plan):
    return bootstrapped.provision(plan, MemorySteps())


@pytest.fixture
def other_client(control):
    """Another writer of the same IAM policy (a person in the console, say)."""
    return resourcemanager_v3.ProjectsClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=control.url))


def add_viewer(client, email):
    policy = client.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    policy.bindings.add(role="roles/viewer", members=[f"user:{email}"])
    client.set_iam_policy(request={"resource": f"projects/{PROJECT}", "policy": policy})


def test_a_binding_written_between_our_read_and_write_is_kept(
        bootstrapped, placement, control, other_client, caplog):
    writes = []

    def change(policy):
        if not writes:  # the other writer acts after our read, before our write
            add_viewer(other_client, "dave@example.com")
            writes.append("dave")
        return add_members(policy, ["user:carol@example.com"], ["roles/editor"])

    bootstrapped.iam.update(PROJECT, change)

    bindings = control.bindings(PROJECT)
    assert bindings["roles/viewer"] == {"user:dave@example.com"}
    assert "user:carol@example.com" in bindings["roles/editor"]
    assert writes == ["dave"]
    assert "code=ABORTED" in caplog.text  # our first write was refused: its etag was stale


def test_grant_retries_an_aborted_set_iam_policy_with_a_fresh_read(
        bootstrapped, placement, plan, control, other_client):
    add_viewer(other_client, "dave@example.com")
    control.fault(method="POST", path_regex=":setIamPolicy$", status=409,
                  status_name="ABORTED", count=1)
    steps = MemorySteps()

    bootstrapped.grant(placement, plan, CAROL, steps)

    bindings = control.bindings(PROJECT)
    assert bindings["roles/editor"] == {"user:bob@example.com", "user:carol@example.com"}
    assert bindings["roles/viewer"] == {"user:dave@example.com"}
    assert control.faults() == []
    assert steps.get("member:carol@example.com") is True


def test_revoke_removes_only_that_member_from_the_template_roles(
        bootstrapped, placement, plan, control, other_client):
    add_viewer(other_client, "bob@example.com")  # not a template role: stays

    bootstrapped.revoke(placement, plan, MEMBER)

    bindings = control.bindings(PROJECT)
    assert "roles/editor" not in bindings  # bob was its only member
    assert bindings["roles/viewer"] == {"user:bob@example.com"}
    assert "user:alice.smith@example.com" in bindings["roles/owner"]


def test_grant_after_revoke_restores_access(bootstrapped, placement, plan, control):
    bootstrapped.revoke(placement, plan, OWNER)
    assert "user:alice.smith@example.com" not in control.bindings(PROJECT)["roles/owner"]

    bootstrapped.grant(placement, plan, OWNER, MemorySteps())

    assert "user:alice.smith@example.com" in control.bindings(PROJECT)["roles/owner"]


def test_granting_twice_changes_nothing(bootstrapped, placement, plan, control):
    before = control.state()["iam_policies"][PROJECT]

    bootstrapped.grant(placement, plan, MEMBER, MemorySteps())

    assert control.state()["iam_policies"][PROJECT] == before


def test_access_info_reports_the_roles_the_policy_holds(bootstrapped, placement, plan):
    owner = bootstrapped.access_info(placement, plan, OWNER, MemorySteps())
    member = bootstrapped.access_info(placement, plan, MEMBER, MemorySteps())
    bootstrapped.revoke(placement, plan, MEMBER)
    revoked = bootstrapped.access_info(placement, plan, MEMBER, MemorySteps())

    assert owner == {
        "console_url": f"https://console.cloud.google.com/home/dashboard?project={PROJECT}",
        "project_id": PROJECT, "roles": ["roles/owner"]}
    assert member["roles"] == ["roles/editor"]
    assert revoked["roles"] == []


def test_a_member_with_an_unknown_role_is_an_error(bootstrapped, placement, plan):
    with pytest.raises(ProviderError, match="unknown role 'admin'"):
        bootstrapped.grant(placement, plan, Member("eve@example.com", "admin"), MemorySteps())
