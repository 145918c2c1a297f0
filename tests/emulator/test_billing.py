"""cloudbilling v1 through the discovery client."""

from __future__ import annotations

import pytest
from googleapiclient.errors import HttpError

from sandbox.emulators.gcp import DEFAULT_BILLING_ACCOUNT

from .conftest import google_status


def test_new_project_has_billing_disabled(billing, make_project):
    make_project("sbx-alpha-1")

    info = billing.projects().getBillingInfo(name="projects/sbx-alpha-1").execute()

    assert info == {"name": "projects/sbx-alpha-1/billingInfo", "projectId": "sbx-alpha-1",
                    "billingAccountName": "", "billingEnabled": False}


def test_link_and_unlink_billing_account(billing, make_project):
    make_project("sbx-alpha-1")

    linked = billing.projects().updateBillingInfo(
        name="projects/sbx-alpha-1", body={"billingAccountName": DEFAULT_BILLING_ACCOUNT}).execute()
    unlinked = billing.projects().updateBillingInfo(
        name="projects/sbx-alpha-1", body={"billingAccountName": ""}).execute()

    assert (linked["billingAccountName"], linked["billingEnabled"]) == (DEFAULT_BILLING_ACCOUNT, True)
    assert (unlinked["billingAccountName"], unlinked["billingEnabled"]) == ("", False)


def test_billing_by_project_number_too(billing, make_project):
    project = make_project("sbx-alpha-1")

    info = billing.projects().getBillingInfo(name=project.name).execute()

    assert info["projectId"] == "sbx-alpha-1"


def test_unknown_billing_account_is_permission_denied(billing, make_project):
    make_project("sbx-alpha-1")

    with pytest.raises(HttpError) as error:
        billing.projects().updateBillingInfo(
            name="projects/sbx-alpha-1", body={"billingAccountName": "billingAccounts/ABCDEF-123456-ABCDEF"}).execute()

    assert error.value.status_code == 403
    assert google_status(error.value) == "PERMISSION_DENIED"


def test_malformed_billing_account_is_invalid_argument(billing, make_project):
    make_project("sbx-alpha-1")

    with pytest.raises(HttpError) as error:
        billing.projects().updateBillingInfo(
            name="projects/sbx-alpha-1", body={"billingAccountName": "000000-000000-000001"}).execute()

    assert error.value.status_code == 400


def test_closed_account_links_but_billing_stays_disabled(billing, make_project, control):
    closed = "billingAccounts/000000-000000-00000C"
    control.post("billing-accounts", {"name": closed, "open": False})
    make_project("sbx-alpha-1")

    info = billing.projects().updateBillingInfo(
        name="projects/sbx-alpha-1", body={"billingAccountName": closed}).execute()

    assert info["billingEnabled"] is False


def test_billing_accounts_get_list_and_linked_projects(billing, make_project):
    make_project("sbx-alpha-1")
    billing.projects().updateBillingInfo(
        name="projects/sbx-alpha-1", body={"billingAccountName": DEFAULT_BILLING_ACCOUNT}).execute()

    account = billing.billingAccounts().get(name=DEFAULT_BILLING_ACCOUNT).execute()
    accounts = billing.billingAccounts().list().execute()["billingAccounts"]
    linked = billing.billingAccounts().projects().list(name=DEFAULT_BILLING_ACCOUNT).execute()

    assert account["open"] is True
    assert [a["name"] for a in accounts] == [DEFAULT_BILLING_ACCOUNT]
    assert [p["projectId"] for p in linked["projectBillingInfo"]] == ["sbx-alpha-1"]


def test_billing_of_unknown_project_is_permission_denied(billing, emulator):
    with pytest.raises(HttpError) as error:
        billing.projects().getBillingInfo(name="projects/no-such-project").execute()
    assert error.value.status_code == 403
