"""The OpenAPI document is the contract: schemathesis generates requests for every operation
from the live server's own document and checks that each answer is one it documents
(status code, content type, headers, body schema) and that none is a server error.

As alice (a user) and as the admin, with valid and invalid input, so that the refusals that come
back (400, 403, 404, 409, 422) are checked against their documented problem shape too; and
signed out, with no or forged bearer tokens (401). Random ids mostly miss, so each operation
also gets explicit cases on a real sandbox, a real token and a real template, which puts the
success bodies (201/200) under the same checks."""

from __future__ import annotations

from itertools import chain

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server.conftest import wait_for_state

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# Bounded: a few cases per operation and mode, no shrinking against a live server, no example database.
BOUNDED = settings(max_examples=6, deadline=None, database=None, derandomize=True,
                   phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                          HealthCheck.data_too_large])
# Valid bodies for the explicit cases (random ones are all refused: unknown template, unparsable duration).
BODIES = {"POST /api/v1/sandboxes": {"template": "gcp-individual"},
          "POST /api/v1/sandboxes/{ref}/extend": {"by": "1h"},
          "POST /api/v1/sandboxes/{ref}/deny": {"reason": "not now"},
          "POST /api/v1/tokens": {"name": "schemathesis", "scope": "read"}}
QUERIES = {"GET /api/v1/reports/{kind}": [{"format": fmt} for fmt in ("json", "csv", "html", "table")],
           "GET /api/v1/sandboxes/{ref}/credentials": [{}],
           "GET /api/v1/sandboxes": [{"scope": "mine", "include_ended": "true"}],
           "GET /api/v1/tokens": [{"owner": "*"}]}


def seed(api_server, owner: str, member: str) -> dict[str, str]:
    """Real things for the explicit cases to name: an active sandbox, one awaiting approval, a token."""
    client = api_server.client(owner)
    active = client.post("/api/v1/sandboxes", json={"template": "gcp-individual"}).json()
    pending = client.post("/api/v1/sandboxes", json={"template": "gcp-group", "members": [member]}).json()
    wait_for_state(client, active["id"], "active")
    token = client.post("/api/v1/tokens", json={"name": "seeded"}).json()
    return {"active": active["id"], "pending": pending["id"], "token_id": token["id"], "name": "gcp-individual",
            "kind": "usage"}


def free_text(parameter) -> bool:
    """A string parameter with no pattern or enum: whatever it holds goes on to the service."""
    schema = parameter.definition.get("schema") or {}
    return any(option.get("type") == "string" and not {"pattern", "enum", "format"} & set(option)
               for option in schema.get("anyOf", [schema]))


def explicit_cases(operation, world: dict[str, str]) -> list:
    """Cases on real objects for operations that name one, take a body or a query; and the same with a
    NUL character in each free-text path or query parameter (PostgreSQL text cannot hold one)."""
    names = {parameter.name for parameter in operation.path_parameters}
    body = BODIES.get(operation.label, NOT_SET)
    queries = QUERIES.get(operation.label)
    if (not names and body is NOT_SET and not queries and not operation.query) or \
            (operation.body and body is NOT_SET):
        return []
    ref = world["pending"] if operation.path.endswith(("/approve", "/deny")) else world["active"]
    path_parameters = {name: ref if name == "ref" else world[name] for name in names}
    cases = [operation.Case(path_parameters=path_parameters, body=body, query=query) for query in queries or [{}]]
    nul_path = {p.name: "nul\x00" for p in operation.path_parameters if free_text(p)}
    if nul_path:
        cases.append(operation.Case(path_parameters={**path_parameters, **nul_path}, body=body))
    cases += [operation.Case(path_parameters=path_parameters, body=body, query={p.name: "nul\x00"})
              for p in operation.query if free_text(p)]
    return cases


def negatable(operation) -> bool:
    """Whether there is anything to make invalid: a body, a query, header or cookie parameter (a security
    parameter among them when schemathesis generates those), or a constrained path parameter. Any string
    is a valid plain string path parameter, so negative generation would find nothing to send."""
    def constrained(parameter) -> bool:
        schema = parameter.definition.get("schema") or {}
        return schema.get("type") != "string" or bool(set(schema) - {"type", "title", "description"})

    return bool(operation.body) or any(True for _ in chain(operation.query, operation.headers, operation.cookies)) \
        or any(constrained(parameter) for parameter in operation.path_parameters)


def conformance_failures(schema, base_url: str, headers: dict[str, str], examples: int,
                         world: dict[str, str] | None = None) -> list[str]:
    """Every operation in both generation modes; one line (with a curl to reproduce) per failing operation."""
    failures = []
    # Destroying and revoking last, so that the other explicit cases still find their objects alive.
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.method == "delete")
    assert operations, "the OpenAPI document lists no operations"
    with requests.Session() as session:
        for operation in operations:
            for mode in MODES if negatable(operation) else MODES[:1]:
                seen = []

                def exercise(case):
                    seen.append(case)
                    case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS,
                                           timeout=30)

                if world and mode is MODES[0]:
                    for case in explicit_cases(operation, world):
                        exercise = example(case=case)(exercise)
                test = settings(BOUNDED, max_examples=examples)(
                    given(case=operation.as_strategy(generation_mode=mode))(exercise))
                try:
                    test()
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a check failure group is a
                    # BaseExceptionGroup; collect them all, then report together
                    curl = seen[-1].as_curl_command(headers=headers) if seen and "curl" not in str(exc) else ""
                    failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}\n    {curl}")
    return failures


def test_every_response_conforms_to_the_openapi_document(api_server):
    url = f"{api_server.url}/api/openapi.json"
    # Signed in: our bearer token on every case, so that negative cases reach validation rather than a 401.
    signed_in = schemathesis.openapi.from_url(
        url, timeout=30, config=schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}}))
    # Signed out: schemathesis sends no Authorization header, or a generated (forged) one.
    signed_out = schemathesis.openapi.from_url(url, timeout=30, config=schemathesis.Config())
    failures = []
    # alice acts on her own things, the admin on bob's (one user's quota would not hold both).
    for who, owner, examples, schema in (("alice", "alice", 6, signed_in), ("admin", "bob", 6, signed_in),
                                         (None, None, 3, signed_out)):
        headers = {"Authorization": f"Bearer {api_server.token(who)}"} if who else {}
        world = seed(api_server, owner, "carol@example.com") if owner else None
        failures += [f"as {who or 'nobody'}: {line}"
                     for line in conformance_failures(schema, api_server.url, headers, examples, world)]
    assert not failures, "\n\n".join(failures)
