"""Use cases. The CLI and the daemon call these; each takes the acting identity explicitly."""

from sandbox.service.admin import bootstrap, retry_sandbox, rotate_key
from sandbox.service.app import App, build_app
from sandbox.service.changes import destroy_sandbox, extend_sandbox, finish_destroy, freeze_sandbox
from sandbox.service.provisioning import provision_sandbox
from sandbox.service.queries import get_credentials, list_events, list_sandboxes, show_sandbox
from sandbox.service.requests import approve_sandbox, deny_sandbox, request_sandbox

__all__ = [
    "App", "build_app", "approve_sandbox", "bootstrap", "deny_sandbox", "destroy_sandbox",
    "extend_sandbox", "finish_destroy", "freeze_sandbox", "get_credentials", "list_events",
    "list_sandboxes", "provision_sandbox", "request_sandbox", "retry_sandbox", "rotate_key", "show_sandbox",
]
