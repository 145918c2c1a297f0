"""serviceusage v1: enable, batchEnable, disable, get, list services of a project.

Responses name projects by number (projects/123.../services/x), whatever the
caller used, as Google does. Enabling an already enabled service returns the
finished no-op operation "operations/noop.DONE_OPERATION".
"""

from __future__ import annotations

from typing import Any

from .access import caller_may
from .catalog import SERVICE_AGENTS, SERVICE_DEPENDENCIES
from .errors import FailedPrecondition, PermissionDenied, bad_request, error_info
from .models import ACTIVE, SU_TYPE, Project
from .routing import (ApiRequest, Route, list_response, paginate, poll_operation, read_body,
                      start_operation)
from .state import EmulatorState

SU_ENUMS = {"state": {"STATE_UNSPECIFIED": 0, "DISABLED": 1, "ENABLED": 2}}
NOOP_OPERATION = "operations/noop.DONE_OPERATION"
# "A single request can enable a maximum of 20 services at a time."
MAX_BATCH_ENABLE = 20
MAX_BATCH_GET = 30
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 200


def _project(state: EmulatorState, key: str, permission: str = "serviceusage.services.get") -> Project:
    project = state.find_project(key)
    if project is None or project.state != ACTIVE or not caller_may(state, project, permission):
        raise PermissionDenied(
            f"Permission denied on resource project {key}.",
            [error_info("CONSUMER_INVALID", "googleapis.com",
                        {"consumer": f"projects/{key}", "service": "serviceusage.googleapis.com"})],
        )
    return project


def _check_known(state: EmulatorState, services: list[str]) -> None:
    unknown = [s for s in services if s not in state.settings.known_services]
    if unknown:
        names = ",".join(unknown)
        raise PermissionDenied(
            f"Not found or permission denied for service(s): {names}.",
            [error_info("SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED", "serviceusage.googleapis.com",
                        {"services": names})],
        )


def service_json(state: EmulatorState, project: Project, service: str) -> dict[str, Any]:
    return {
        "name": f"projects/{project.number}/services/{service}",
        "parent": f"projects/{project.number}",
        "config": {"name": service, "title": state.settings.known_services.get(service, service)},
        "state": "ENABLED" if service in project.enabled_services else "DISABLED",
    }


def _metadata(project: Project, services: list[str]) -> dict[str, Any]:
    return {"@type": SU_TYPE + "OperationMetadata",
            "resourceNames": [f"projects/{project.number}/services/{s}" for s in services]}


def _with_dependencies(services: list[str]) -> list[str]:
    out: list[str] = []
    for service in services:
        for name in (*SERVICE_DEPENDENCIES.get(service, ()), service):
            if name not in out:
                out.append(name)
    return out


def _enable(project: Project, services: list[str]) -> None:
    """Enable them (and what they depend on); Google then creates each one's service
    agent and grants it its role (https://cloud.google.com/iam/docs/service-agents)."""
    enabled = _with_dependencies(services)
    project.enabled_services.update(enabled)
    for service in enabled:
        if service in SERVICE_AGENTS:
            agent, role = SERVICE_AGENTS[service]
            project.grant(role, "serviceAccount:" + agent.format(number=project.number))


def enable_service(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = _project(state, request.params["project"], "serviceusage.services.enable")
    service = request.params["service"]
    _check_known(state, [service])
    response = {"@type": SU_TYPE + "EnableServiceResponse"}
    if service in project.enabled_services:
        response["service"] = service_json(state, project, service)
        return 200, {"name": NOOP_OPERATION, "done": True, "response": response}
    _enable(project, [service])
    response["service"] = service_json(state, project, service)
    return 200, start_operation(state, "v1", f"acat.p2-{project.number}",
                                _metadata(project, [service]), response)


def batch_enable_services(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = _project(state, request.params["project"], "serviceusage.services.enable")
    body = read_body(request.body, ("serviceIds",), "")
    services = list(body.get("serviceIds") or [])
    if not services:
        raise bad_request("service_ids", "serviceIds must name at least one service.")
    if len(services) > MAX_BATCH_ENABLE:
        raise bad_request("service_ids", f"At most {MAX_BATCH_ENABLE} services can be enabled per request.")
    _check_known(state, services)  # atomic: one unknown service and nothing changes
    _enable(project, services)
    response = {"@type": SU_TYPE + "BatchEnableServicesResponse",
                "services": [service_json(state, project, s) for s in services]}
    return 200, start_operation(state, "v1", f"acat.p2-{project.number}",
                                _metadata(project, services), response)


def disable_service(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = _project(state, request.params["project"], "serviceusage.services.disable")
    service = request.params["service"]
    body = read_body(request.body, ("disableDependentServices", "checkIfServiceHasUsage"), "")
    _check_known(state, [service])
    # "It is not valid to call the disable method on a service that is not
    # currently enabled. Callers will receive a FAILED_PRECONDITION status."
    if service not in project.enabled_services:
        raise FailedPrecondition(f"Service {service} is not enabled on project {project.number}.")
    dependents = sorted(s for s, deps in SERVICE_DEPENDENCIES.items()
                        if service in deps and s in project.enabled_services)
    if dependents and not body.get("disableDependentServices"):
        raise FailedPrecondition(
            f"The service {service} is depended on by the following active service(s): "
            f"{','.join(dependents)}; Please specify disable_dependent_services=true if you "
            "want to proceed with disabling all services.")
    project.enabled_services.difference_update([service, *dependents])
    response = {"@type": SU_TYPE + "DisableServiceResponse", "service": service_json(state, project, service)}
    return 200, start_operation(state, "v1", f"acf.p2-{project.number}",
                                _metadata(project, [service]), response)


def get_service(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = _project(state, request.params["project"])
    service = request.params["service"]
    _check_known(state, [service])
    return 200, service_json(state, project, service)


def batch_get_services(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = _project(state, request.params["project"])
    names = request.query.get("names", [])
    if len(names) > MAX_BATCH_GET:
        raise bad_request("names", f"At most {MAX_BATCH_GET} services can be requested at once.")
    services = [name.rpartition("/services/")[2] for name in names]
    _check_known(state, services)
    return 200, list_response("services", [service_json(state, project, s) for s in services], "")


def list_services(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    project = _project(state, request.params["project"], "serviceusage.services.list")
    wanted = {"": None, "state:ENABLED": True, "state:DISABLED": False}
    filter_ = request.arg("filter").strip()
    if filter_ not in wanted:
        raise bad_request("filter", "The allowed filter strings are state:ENABLED and state:DISABLED.")
    names = sorted(set(state.settings.known_services) | project.enabled_services)
    if wanted[filter_] is not None:
        names = [n for n in names if (n in project.enabled_services) == wanted[filter_]]
    page, token = paginate(names, request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return 200, list_response("services", [service_json(state, project, n) for n in page], token)


def get_operation(state: EmulatorState, request: ApiRequest) -> tuple[int, dict]:
    if f"operations/{request.params['operation']}" == NOOP_OPERATION:
        return 200, {"name": NOOP_OPERATION, "done": True}
    return 200, poll_operation(state, "v1", request.params["operation"])


ROUTES = [Route(method, template, handler, SU_ENUMS) for method, template, handler in [
    ("POST", "/v1/projects/{project}/services/{service}:enable", enable_service),
    ("POST", "/v1/projects/{project}/services/{service}:disable", disable_service),
    ("POST", "/v1/projects/{project}/services:batchEnable", batch_enable_services),
    ("GET", "/v1/projects/{project}/services:batchGet", batch_get_services),
    ("GET", "/v1/projects/{project}/services", list_services),
    ("GET", "/v1/projects/{project}/services/{service}", get_service),
    ("GET", "/v1/operations/{operation}", get_operation),
]]
