"""Use cases. The CLI and the daemon call these; each takes the acting identity explicitly.

Names are imported from their module on first use (PEP 562): `sandbox list` then loads
the query use cases only, not templates, provisioning or the admin commands
(bench/cli_latency.py measures it against the cost of importing sqlmodel).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "admin": ("bootstrap", "retry_sandbox", "rotate_key"),
    "app": ("App", "build_app"),
    "budgets": ("set_budget",),
    "catalog": ("list_template_rows", "show_template"),
    "changes": ("destroy_sandbox", "extend_sandbox", "finish_destroy", "freeze_sandbox"),
    "provisioning": ("provision_sandbox",),
    "queries": ("describe_caller", "get_credentials", "list_events", "list_sandbox_page", "list_sandboxes", "show_sandbox"),
    "requests": ("approve_sandbox", "deny_sandbox", "request_sandbox"),
    "tokens": ("authenticate_token", "create_token", "list_tokens", "revoke_token"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from sandbox.service.admin import bootstrap, retry_sandbox, rotate_key
    from sandbox.service.app import App, build_app
    from sandbox.service.budgets import set_budget
    from sandbox.service.changes import destroy_sandbox, extend_sandbox, finish_destroy, freeze_sandbox
    from sandbox.service.provisioning import provision_sandbox
    from sandbox.service.catalog import list_template_rows, show_template
    from sandbox.service.queries import (describe_caller, get_credentials, list_events, list_sandbox_page, list_sandboxes,
                                         show_sandbox)
    from sandbox.service.requests import approve_sandbox, deny_sandbox, request_sandbox
    from sandbox.service.tokens import authenticate_token, create_token, list_tokens, revoke_token
