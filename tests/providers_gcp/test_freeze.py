"""A freeze that really removes access (issue 12): whoever the project's owner let in, only
this tool and Google's service agents are left; unfreeze gives back exactly the template's
grants. The sandbox's owner acts through the emulator's caller, with its IAM enforced."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

import pytest
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3
from google.iam.v1 import policy_pb2
from google.protobuf import field_mask_pb2
from google.type import expr_pb2

from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT, DEFAULT_CALLER
from sandbox.errors import ConfigError, ProviderError
from sandbox.provider import cloud_named
from sandbox.providers.gcp.naming import LABEL_MAX_COUNT
from sandbox.providers.gcp.provider import FREEZE_STEPS, GcpProvider

from .conftest import OWNER, MemorySteps

PROJECT = "alice-smith-1a2b3c4d"
ALICE = f"user:{OWNER.email}"
OUTSIDER = "user:someone@gmail.com"
CONTRACTOR = "user:contractor@gmail.com"
FOREVER = 'request.time < timestamp("2099-01-01T00:00:00Z")'
OWN_SA = f"serviceAccount:runner@{PROJECT}.iam.gserviceaccount.com"


@pytest.fixture
def enforced(control):
    """The emulator checks every caller's project roles, as Google does."""
    control.config(enforce_iam=True)
    return control


@pytest.fixture
def placement(bootstrapped, plan, enforced):
    return bootstrapped.provision(plan, MemorySteps())


@pytest.fixture
def number(control, placement) -> str:
    return control.project(PROJECT)["name"].rpartition("/")[2]


@contextmanager
def acting_as(control, principal: str) -> Iterator[resourcemanager_v3.ProjectsClient]:
    """A Google client whose requests the emulator takes for `principal`'s."""
    control.config(caller=principal)
    try:
        yield resourcemanager_v3.ProjectsClient(
            credentials=AnonymousCredentials(), transport="rest",
            client_options=ClientOptions(api_endpoint=control.url))
    finally:
        control.config(caller=DEFAULT_CALLER)


def owner_lets_others_in(control) -> None:
    """What a sandbox's owner may do with roles/owner: an outside owner, a conditional owner
    binding, someone else's IAM admin, a service account of their own, a look-alike agent."""
    with acting_as(control, ALICE) as client:
        resource = f"projects/{PROJECT}"
        policy = client.get_iam_policy(request={"resource": resource,
                                                "options": {"requested_policy_version": 3}})
        policy.version = 3
        policy.bindings.extend([
            policy_pb2.Binding(role="roles/owner", members=[OUTSIDER]),
            policy_pb2.Binding(role="roles/owner", members=[CONTRACTOR], condition=expr_pb2.Expr(
                title="until 2099", expression=FOREVER)),
            policy_pb2.Binding(role="roles/resourcemanager.projectIamAdmin",
                               members=["group:friends@example.org", "domain:example.org"]),
            policy_pb2.Binding(role="roles/editor", members=[
                OWN_SA, "serviceAccount:service-100000000001@evil-project.iam.gserviceaccount.com"]),
        ])
        client.set_iam_policy(request={"resource": resource, "policy": policy})


def members_of(control) -> set[str]:
    """Everyone in the policy, conditional bindings too (control.bindings keys by role)."""
    bindings = control.state()["iam_policies"][PROJECT].get("bindings", [])
    return {member for binding in bindings for member in binding["members"]}


def agents(number: str) -> set[str]:
    """The service agents the emulator made when the template's services were enabled."""
    return {f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com",
            f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com",
            f"serviceAccount:service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com"}


EXPECTED_REMOVED = [
    {"role": "roles/editor", "members": sorted(
        ["serviceAccount:service-100000000001@evil-project.iam.gserviceaccount.com",
         "user:bob@example.com", OWN_SA])},
    {"role": "roles/owner", "members": [ALICE, OUTSIDER]},
    {"role": "roles/owner", "members": [CONTRACTOR],
     "condition": {"title": "until 2099", "expression": FOREVER}},
    {"role": "roles/resourcemanager.projectIamAdmin",
     "members": ["domain:example.org", "group:friends@example.org"]},
]


def test_freeze_leaves_only_this_tool_and_google_service_agents(
        bootstrapped, placement, plan, control, number):
    owner_lets_others_in(control)
    steps = MemorySteps()

    result = bootstrapped.freeze(placement, plan, steps)

    assert members_of(control) == {DEFAULT_CALLER} | agents(number)
    assert control.bindings(PROJECT)["roles/owner"] == {DEFAULT_CALLER}
    policy = control.state()["iam_policies"][PROJECT]
    assert not any("condition" in b for b in policy["bindings"])
    assert result == {"location": "sandbox/frozen", "removed_bindings": EXPECTED_REMOVED,
                      "billing_unlinked": ""}
    assert steps.get("freeze:removed_bindings") == EXPECTED_REMOVED
    assert control.project(PROJECT)["parent"] == control.folder_named("sandbox/frozen")
    for principal in (ALICE, OUTSIDER, CONTRACTOR):
        with acting_as(control, principal) as client, pytest.raises(exceptions.Forbidden):
            client.get_iam_policy(request={"resource": f"projects/{PROJECT}"})


def test_freeze_twice_is_harmless(bootstrapped, placement, plan, control):
    owner_lets_others_in(control)
    steps = MemorySteps()
    first = bootstrapped.freeze(placement, plan, steps)
    etag = control.state()["iam_policies"][PROJECT]["etag"]

    again = bootstrapped.freeze(placement, plan, steps)

    assert again == first
    assert control.state()["iam_policies"][PROJECT]["etag"] == etag  # no second write
    assert control.project(PROJECT)["parent"] == control.folder_named("sandbox/frozen")


def test_a_freeze_cut_short_before_its_policy_write_returns_the_same_bindings_on_retry(
        bootstrapped, placement, plan, control, number):
    owner_lets_others_in(control)
    control.fault(method="POST", path_regex=":setIamPolicy$", status=503, count=4)
    steps = MemorySteps()
    with pytest.raises(ProviderError, match="setIamPolicy"):
        bootstrapped.freeze(placement, plan, steps)
    assert steps.get("freeze:removed_bindings") == EXPECTED_REMOVED  # saved before the write
    assert OUTSIDER in members_of(control)

    result = GcpProvider(bootstrapped.settings).freeze(placement, plan, steps)

    assert result["removed_bindings"] == EXPECTED_REMOVED
    assert members_of(control) == {DEFAULT_CALLER} | agents(number)


def test_a_freeze_cut_short_after_its_policy_write_still_reports_what_it_removed(
        bootstrapped, placement, plan, control):
    owner_lets_others_in(control)
    control.fault(method="POST", path_regex=":move$", status=503, count=4)
    steps = MemorySteps()
    with pytest.raises(ProviderError, match="projects.move"):
        bootstrapped.freeze(placement, plan, steps)
    assert OUTSIDER not in members_of(control)  # the write went through

    result = bootstrapped.freeze(placement, plan, steps)

    assert result["removed_bindings"] == EXPECTED_REMOVED
    assert control.project(PROJECT)["parent"] == control.folder_named("sandbox/frozen")


def test_unfreeze_restores_exactly_the_template_grants(bootstrapped, placement, plan, control, number):
    owner_lets_others_in(control)
    steps = MemorySteps()
    bootstrapped.freeze(placement, plan, steps)

    result = bootstrapped.unfreeze(placement, plan, steps)

    bindings = control.bindings(PROJECT)
    assert bindings["roles/owner"] == {DEFAULT_CALLER, ALICE}
    assert bindings["roles/editor"] == {"user:bob@example.com"}
    assert members_of(control) == {DEFAULT_CALLER, ALICE, "user:bob@example.com"} | agents(number)
    assert not any("condition" in b for b in control.state()["iam_policies"][PROJECT]["bindings"])
    assert control.project(PROJECT)["parent"] == control.folder_named("sandbox/active/default")
    assert result == {"location": "sandbox/active/default",
                      "granted": ["alice.smith@example.com", "bob@example.com"],
                      "roles": {"alice.smith@example.com": ["roles/owner"],
                                "bob@example.com": ["roles/editor"]},
                      "billing_relinked": ""}
    assert all(steps.get(key) is None for key in FREEZE_STEPS)
    with acting_as(control, ALICE) as client:  # the owner is back in
        client.get_iam_policy(request={"resource": f"projects/{PROJECT}"})


def test_freeze_unlinks_billing_when_asked_and_unfreeze_links_it_again(
        bootstrapped, placement, plan, control):
    bootstrapped.settings.freeze_unlinks_billing = True
    steps = MemorySteps()

    frozen = bootstrapped.freeze(placement, plan, steps)

    assert control.state()["billing"][PROJECT] == ""
    assert frozen["billing_unlinked"] == DEFAULT_BILLING_ACCOUNT
    assert steps.get("freeze:billing_account") == DEFAULT_BILLING_ACCOUNT
    assert bootstrapped.freeze(placement, plan, steps) == frozen  # still knows what to relink

    thawed = bootstrapped.unfreeze(placement, plan, steps)

    assert control.state()["billing"][PROJECT] == DEFAULT_BILLING_ACCOUNT
    assert thawed["billing_relinked"] == DEFAULT_BILLING_ACCOUNT


def test_billing_stays_linked_by_default(bootstrapped, placement, plan, control):
    result = bootstrapped.freeze(placement, plan, MemorySteps())

    assert control.state()["billing"][PROJECT] == DEFAULT_BILLING_ACCOUNT
    assert result["billing_unlinked"] == ""


def test_our_own_owner_role_removed_but_still_reachable_is_restored_as_tampering(
        bootstrapped, placement, plan, control):
    control.config(enforce_iam=False)  # we still reach it (as through a folder role)
    with acting_as(control, ALICE) as client:
        policy = client.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
        for binding in policy.bindings:
            if DEFAULT_CALLER in binding.members:
                binding.members.remove(DEFAULT_CALLER)
        client.set_iam_policy(request={"resource": f"projects/{PROJECT}", "policy": policy})

    result = bootstrapped.freeze(placement, plan, MemorySteps())

    assert control.bindings(PROJECT)["roles/owner"] == {DEFAULT_CALLER}
    assert DEFAULT_CALLER in result["tampering"]


def test_lost_access_is_a_failure_to_report_never_a_deletion(bootstrapped, placement, plan, control):
    with acting_as(control, ALICE) as client:  # the owner shuts this tool out
        policy = client.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
        for binding in policy.bindings:
            if DEFAULT_CALLER in binding.members:
                binding.members.remove(DEFAULT_CALLER)
        client.set_iam_policy(request={"resource": f"projects/{PROJECT}", "policy": policy})
    steps = MemorySteps()
    steps.put("project_created", True)  # the provision's own record: we made this project

    with pytest.raises(ProviderError) as caught:
        bootstrapped.destroy(placement, plan, steps)

    error = caught.value
    assert error.code == "PERMISSION_DENIED" and not error.retryable
    assert error.code not in cloud_named("gcp").gone_codes
    message = str(error)
    assert "\n" not in message
    assert f"--member={DEFAULT_CALLER} --role=roles/owner" in message
    assert "removed this tool's access" in message
    assert control.project(PROJECT)["state"] == "ACTIVE"
    assert steps.get("delete_requested") is None
    for attempt in (lambda: bootstrapped.read_tags(placement),
                    lambda: bootstrapped.freeze(placement, plan, MemorySteps())):
        with pytest.raises(ProviderError, match="removed this tool's access"):
            attempt()


def test_a_project_deleted_behind_our_back_is_gone(bootstrapped, placement, plan, control):
    with acting_as(control, ALICE) as client:
        client.delete_project(name=f"projects/{PROJECT}").result()

    with pytest.raises(ProviderError) as caught:
        bootstrapped.read_tags(placement)

    assert caught.value.code in cloud_named("gcp").gone_codes
    assert "DELETE_REQUESTED" in str(caught.value)


def test_tag_drops_the_users_labels_when_ours_do_not_fit(bootstrapped, placement, plan, control):
    labels = dict(control.project(PROJECT)["labels"])
    del labels["environment"], labels["cost-center"]  # two of ours gone...
    theirs = {f"team-{i:02d}": f"v{i}" for i in range(LABEL_MAX_COUNT - len(labels))}
    with acting_as(control, ALICE) as client:  # ...and the room filled with the owner's
        client.update_project(
            project=resourcemanager_v3.Project(name=f"projects/{PROJECT}", labels={**labels, **theirs}),
            update_mask=field_mask_pb2.FieldMask(paths=["labels"])).result()

    dropped = bootstrapped.tag(placement, plan.tags)

    held = control.project(PROJECT)["labels"]
    desired = bootstrapped.desired_tags(plan.tags)
    assert {k: held[k] for k in desired} == desired
    assert len(held) == LABEL_MAX_COUNT
    assert dropped == {"team-57": "v57", "team-58": "v58"}  # the last of theirs in key order
    assert not set(dropped) & set(held)
    assert bootstrapped.tag(placement, plan.tags) == {}  # fits now: nothing more to drop


def test_gcp_has_no_guardrails_to_check(bootstrapped):
    assert bootstrapped.check_guardrails() == {}


def _key_file(tmp_path, info: dict) -> str:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(info))
    return str(path)


def test_the_identity_kept_is_the_service_account_of_the_credentials(gcp_settings, tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _key_file(tmp_path, {
        "type": "service_account", "project_id": "sandbox-admin", "private_key_id": "1",
        "private_key": key.decode(), "client_email": "Sandbox-Cloud@sandbox-admin.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    gcp_settings.endpoint = ""  # real Google: Application Default Credentials

    assert GcpProvider(gcp_settings).identity() == \
        "serviceAccount:sandbox-cloud@sandbox-admin.iam.gserviceaccount.com"


def test_user_credentials_need_the_service_account_setting(gcp_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _key_file(tmp_path, {
        "type": "authorized_user", "client_id": "id", "client_secret": "secret", "refresh_token": "token"}))
    gcp_settings.endpoint = ""

    with pytest.raises(ConfigError, match=r"set \[gcp\] service_account"):
        GcpProvider(gcp_settings).identity()

    gcp_settings.service_account = "user:Ops@example.com"
    assert GcpProvider(gcp_settings).identity() == "user:ops@example.com"
