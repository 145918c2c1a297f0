"""cloudbilling v1: project billing info and billing accounts.

Billing accounts exist only if registered (constructor, or POST
/emulator/billing-accounts). Linking to an account the caller cannot see is
answered 403 PERMISSION_DENIED: updateBillingInfo requires permissions on the
billing account, and Google reports a resource the caller cannot see as
forbidden rather than missing (https://cloud.google.com/apis/design/errors,
PERMISSION_DENIED; https://cloud.google.com/billing/docs/reference/rest/v1/projects/updateBillingInfo).
Linking to a *closed* account is accepted and leaves billingEnabled false, as
documented.
"""

from __future__ import annotations

from typing import Any

from .access import caller_may
from .errors import PermissionDenied
from .models import BillingAccount, Project
from .naming import check_billing_account_name
from .routing import ApiRequest, Route, list_response, paginate, read_body
from .state import EmulatorState

BILLING_INFO_FIELDS = ("name", "projectId", "billingAccountName", "billingEnabled")
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100


def _caller_lacks_permission() -> PermissionDenied:
    return PermissionDenied("The caller does not have permission")


def _project(state: EmulatorState, key: str, permission: str = "resourcemanager.projects.get") -> Project:
    project = state.find_project(key)
    if project is None or not caller_may(state, project, permission):
        raise _caller_lacks_permission()
    return project


def _account(state: EmulatorState, name: str) -> BillingAccount:
    account = state.billing_accounts.get(name)
    if account is None:
        raise _caller_lacks_permission()
    return account


def billing_info_json(state: EmulatorState, project: Project) -> dict[str, Any]:
    account = state.billing_accounts.get(project.billing_account)
    return {
        "name": f"projects/{project.project_id}/billingInfo",
        "projectId": project.project_id,
        "billingAccountName": project.billing_account,
        "billingEnabled": bool(account and account.open),
    }


def get_billing_info(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    return 200, billing_info_json(state, _project(state, request.params["project"]))


def update_billing_info(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    body = read_body(request.body, BILLING_INFO_FIELDS, "project_billing_info")
    account_name = body.get("billingAccountName") or ""
    assignment = "create" if account_name else "delete"
    project = _project(state, request.params["project"],
                       f"resourcemanager.projects.{assignment}BillingAssignment")
    if account_name:  # "" disables billing: "This action disassociates the current billing account"
        check_billing_account_name(account_name)
        _account(state, account_name)
    project.billing_account = account_name
    return 200, billing_info_json(state, project)


def get_billing_account(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    return 200, _account(state, f"billingAccounts/{request.params['account']}").to_json()


def list_billing_accounts(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    accounts = sorted(state.billing_accounts.values(), key=lambda a: a.name)
    page, token = paginate(accounts, request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return 200, list_response("billingAccounts", [a.to_json() for a in page], token)


def list_billing_account_projects(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    account = _account(state, f"billingAccounts/{request.params['account']}")
    linked = [p for p in state.projects.values() if p.billing_account == account.name and not p.purged]
    page, token = paginate(linked, request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return 200, list_response("projectBillingInfo", [billing_info_json(state, p) for p in page], token)


ROUTES = [
    Route("GET", "/v1/projects/{project}/billingInfo", get_billing_info),
    Route("PUT", "/v1/projects/{project}/billingInfo", update_billing_info),
    Route("GET", "/v1/billingAccounts", list_billing_accounts),
    Route("GET", "/v1/billingAccounts/{account}", get_billing_account),
    Route("GET", "/v1/billingAccounts/{account}/projects", list_billing_account_projects),
]
