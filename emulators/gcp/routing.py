"""What every API module shares: the request, routes, paging, operations, enums."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import InvalidArgument, NotFound, bad_request
from .models import Operation, is_operation_id
from .state import EmulatorState


@dataclass
class ApiRequest:
    method: str
    path: str
    params: dict[str, str]  # from the route template
    query: dict[str, list[str]]
    body: dict[str, Any] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return self.arg(name).lower() in ("true", "1")

    @property
    def wants_int_enums(self) -> bool:
        # The gapic REST clients send $alt=json;enum-encoding=int and Google then
        # renders enums as numbers; the discovery client (alt=json) gets names.
        return "enum-encoding=int" in self.arg("$alt")


Handler = Callable[[EmulatorState, ApiRequest], tuple[int, dict[str, Any]]]


@dataclass
class Route:
    method: str
    template: str  # "/v3/projects/{project}:undelete"
    handler: Handler
    # Enum fields rendered as numbers when the client asks for enum-encoding=int.
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/:]+)", re.escape(self.template).replace(r"\{", "{").replace(r"\}", "}"))
        self.pattern = re.compile(f"^{regex}$")

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        return found.groupdict() if found else None


def encode_enums(doc: Any, enums: dict[str, dict[str, int]]) -> Any:
    """Replace enum names by numbers in every nested field named in `enums`."""
    if isinstance(doc, list):
        return [encode_enums(item, enums) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out = {}
    for key, value in doc.items():
        if key in enums and isinstance(value, str) and value in enums[key]:
            out[key] = enums[key][value]
        elif key == "labels":  # user data: a label named "state" is not an enum
            out[key] = value
        else:
            out[key] = encode_enums(value, enums)
    return out


def read_body(body: dict[str, Any], fields: tuple[str, ...], where: str) -> dict[str, Any]:
    """Accept camelCase or proto snake_case names, as Google's JSON transcoding
    does, and refuse unknown names like Google ("Invalid JSON payload received.
    Unknown name ...") so a typo in a request never passes silently."""
    snake_to_camel = {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), f): f for f in fields}
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = key if key in fields else snake_to_camel.get(key)
        if name is None:
            raise InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}" at \'{where}\': Cannot find field.',
                [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                  "fieldViolations": [{"field": where, "description": f'Invalid JSON payload received. Unknown name "{key}"'}]}],
            )
        out[name] = value
    return out


def paginate(items: list[Any], request: ApiRequest, default_size: int, max_size: int) -> tuple[list[Any], str]:
    """One page of `items` and the token of the next page ("" on the last)."""
    try:
        size = int(request.arg("pageSize") or default_size)
    except ValueError:
        raise bad_request("page_size", "pageSize must be an integer.") from None
    if size < 0:
        raise bad_request("page_size", "pageSize must not be negative.")
    size = min(size or default_size, max_size)
    token = request.arg("pageToken")
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise bad_request("page_token", "Invalid page token.") from None
    end = start + size
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else ""
    return items[start:end], next_token


def list_response(key: str, items: list[dict[str, Any]], next_token: str) -> dict[str, Any]:
    # proto3 JSON omits empty repeated fields and empty strings: an empty list
    # comes back as {}, so callers of the discovery client must use .get(key, []).
    doc: dict[str, Any] = {}
    if items:
        doc[key] = items
    if next_token:
        doc["nextPageToken"] = next_token
    return doc


def start_operation(state: EmulatorState, api: str, prefix: str, metadata: dict[str, Any] | None,
                    response: dict[str, Any] | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record a long-running operation and return its first rendering.

    With polls_before_done=N the operation reports done on the N-th poll
    (0: already done in the response of the call that started it).
    """
    op = Operation(
        name=f"operations/{state.new_operation_id(prefix)}",
        api=api,
        polls_before_done=max(0, state.settings.polls_before_done),
        metadata=metadata,
        response=response,
        error=error,
    )
    state.operations[op.name] = op
    return op.to_json()


def poll_operation(state: EmulatorState, api: str, operation_id: str) -> dict[str, Any]:
    op = state.operations.get(f"operations/{operation_id}")
    if op is None or op.api != api or not is_operation_id(operation_id):
        raise NotFound(f"Operation operations/{operation_id} not found.")
    op.polls += 1
    return op.to_json()
