"""The emulator's own control plane under /emulator/ (not a Google API).

  POST   /emulator/reset              back to the start-up state (also clears faults and stats)
  GET    /emulator/state              JSON dump of projects, folders, policies, billing, services
  GET    /emulator/stats              request counts per "METHOD /route/{template}"
  DELETE /emulator/stats              zero the counts only
  GET    /emulator/config             current settings
  POST   /emulator/config             {"polls_before_done": N, "latency_ms": M, "caller": ...,
                                       "enforce_iam": true, "known_services": {"x.googleapis.com":
                                       "Title"}} (merged). "caller" is who every API request acts
                                       as (a principal, "user:alice@example.com"); with
                                       "enforce_iam" its project roles are checked (access.py)
                                       "bigquery_page_rows": R caps the rows of one BigQuery
                                       result page (default 10000)
  GET    /emulator/faults             queued faults
  POST   /emulator/faults             one fault or {"faults": [...]}, each
                                      {"method": "POST", "path_regex": ":setIamPolicy$",
                                       "status": 409, "status_name": "ABORTED", "count": 1,
                                       "message": "...", "operation_error": {"code": 6, ...}}
  DELETE /emulator/faults             drop queued faults
  POST   /emulator/billing-accounts   {"name": "billingAccounts/...", "displayName": ..., "open": true}
  POST   /emulator/purge-deleted      finish pending project deletions (ids stay taken)
  POST   /emulator/billing-export     {"table": "PROJECT.DATASET.gcp_billing_export_v1_X",
                                       "rows": [{"project_id": "p", "usage_start_time": ISO 8601,
                                                 "cost": 1.5, "credits": [{"name": ..., "amount": -0.5}],
                                                 "currency": "USD"}]}
                                      appends rows to a Cloud Billing export table (created,
                                      empty, by the first call; "rows": [] just creates it) that
                                      BigQuery queries read; any other export column may be given
                                      in the export's own shape (project {id, name}, service,
                                      sku, usage_end_time, currency_conversion_rate, ...).
                                      Answers {"table": ..., "rows": total rows}. Reset empties it.
  GET    /emulator/billing-export     {"tables": {"PROJECT.DATASET.TABLE": row count}}
"""

from __future__ import annotations

import re
from typing import Any

from .errors import error_class_for
from .models import BillingAccount
from .naming import check_billing_account_name
from .state import EmulatorState, Fault


class ControlError(ValueError):
    """A bad control-plane request (answered 400)."""


def make_fault(spec: dict[str, Any]) -> Fault:
    if not isinstance(spec, dict) or "path_regex" not in spec:
        raise ControlError("a fault needs at least path_regex")
    try:
        pattern = re.compile(spec["path_regex"])
        http_status = int(spec.get("status", 503))
        status_name = spec.get("status_name")
        error_class_for(http_status, status_name)  # validates the name
        count = int(spec.get("count", 1))
    except (re.error, ValueError, TypeError) as exc:
        raise ControlError(f"invalid fault {spec!r}: {exc}") from None
    op_error = spec.get("operation_error")
    if op_error is not None and not (isinstance(op_error, dict) and isinstance(op_error.get("code"), int)):
        raise ControlError("operation_error must be a google.rpc.Status like {\"code\": 6, \"message\": ...}")
    return Fault(method=str(spec.get("method", "*")).upper(), path_regex=pattern, count=count,
                 http_status=http_status, status=status_name,
                 message=spec.get("message") or "Injected fault.", operation_error=op_error)


def apply_config(state: EmulatorState, body: dict[str, Any]) -> None:
    known = {"polls_before_done", "latency_ms", "caller", "enforce_iam", "known_services",
             "bigquery_page_rows"}
    unknown = set(body) - known
    if unknown:
        raise ControlError(f"unknown config keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        if "polls_before_done" in body:
            state.settings.polls_before_done = max(0, int(body["polls_before_done"]))
        if "latency_ms" in body:
            state.settings.latency_ms = max(0, int(body["latency_ms"]))
        if "bigquery_page_rows" in body:
            state.settings.bigquery_page_rows = max(1, int(body["bigquery_page_rows"]))
    except (TypeError, ValueError) as exc:
        raise ControlError(str(exc)) from None
    if "caller" in body:
        caller = str(body["caller"])
        if not re.match(r"^(user|serviceAccount):[^@\s]+@[^@\s]+$", caller):
            raise ControlError(f"caller {caller!r} must be a principal like user:alice@example.com")
        state.settings.caller = caller
    if "enforce_iam" in body:
        if not isinstance(body["enforce_iam"], bool):
            raise ControlError("enforce_iam must be true or false")
        state.settings.enforce_iam = body["enforce_iam"]
    if "known_services" in body:
        services = body["known_services"]
        if isinstance(services, list):
            services = {name: name for name in services}
        state.settings.known_services.update(services)


def add_billing_account(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    name = str(body.get("name", ""))
    try:
        check_billing_account_name(name)
    except Exception as exc:  # the naming error is a Google error; here it is a control error
        raise ControlError(str(exc)) from None
    account = BillingAccount(name, display_name=body.get("displayName", "Sandbox billing"),
                             open=bool(body.get("open", True)))
    state.billing_accounts[name] = account
    return account.to_json()


def add_billing_export(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    from .bqengine import BigQueryError

    rows = body.get("rows", [])
    if not isinstance(body.get("table"), str) or not isinstance(rows, list):
        raise ControlError('billing-export needs {"table": "PROJECT.DATASET.TABLE", "rows": [...]}')
    try:
        table = state.bigquery_engine.ensure_billing_table(body["table"])
        total = state.bigquery_engine.add_billing_rows(table, rows)
    except BigQueryError as exc:
        raise ControlError(exc.message) from None
    return {"table": table, "rows": total}


def handle_control(state: EmulatorState, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """Serve one /emulator/ request; returns (status, JSON body)."""
    with state.lock:
        if (method, path) == ("POST", "/emulator/reset"):
            state.reset()
            return 200, {"status": "reset"}
        if (method, path) == ("GET", "/emulator/state"):
            return 200, state.dump()
        if (method, path) == ("GET", "/emulator/stats"):
            return 200, state.stats_json()
        if (method, path) == ("DELETE", "/emulator/stats"):
            state.stats.clear()
            return 200, state.stats_json()
        if (method, path) == ("GET", "/emulator/config"):
            return 200, state.config_json()
        if (method, path) == ("POST", "/emulator/config"):
            apply_config(state, body)
            return 200, state.config_json()
        if (method, path) == ("GET", "/emulator/faults"):
            return 200, {"faults": [f.to_json() for f in state.faults]}
        if (method, path) == ("POST", "/emulator/faults"):
            specs = body.get("faults", [body]) if isinstance(body, dict) else body
            faults = [make_fault(spec) for spec in specs]  # all valid, or none queued
            state.faults.extend(faults)
            return 200, {"faults": [f.to_json() for f in state.faults]}
        if (method, path) == ("DELETE", "/emulator/faults"):
            state.faults.clear()
            return 200, {"faults": []}
        if (method, path) == ("POST", "/emulator/billing-accounts"):
            return 200, add_billing_account(state, body)
        if (method, path) == ("POST", "/emulator/billing-export"):
            return 200, add_billing_export(state, body)
        if (method, path) == ("GET", "/emulator/billing-export"):
            return 200, {"tables": state.bigquery_engine.row_counts()}
        if (method, path) == ("POST", "/emulator/purge-deleted"):
            return 200, {"purged": state.purge_deleted_projects()}
    return 404, {"error": f"no control endpoint {method} {path}; see emulators/gcp/control.py"}
