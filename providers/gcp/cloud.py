"""What the GCP provider tells core about itself (registered as the `gcp` entry point).
Imports no Google library: the provider class loads on first use."""

from __future__ import annotations

import re
from typing import Any

from sandbox.fields import TableReader
from sandbox.provider import Cloud
from sandbox.providers.gcp.settings import GcpSettings

_ROLE = re.compile(r"^(roles|projects/[a-z0-9-]+/roles|organizations/\d+/roles)/[A-Za-z0-9_.]+$")
_SERVICE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.googleapis\.com$")


def read_spec(section: TableReader, kind: str) -> dict[str, Any]:
    """A template's [gcp] table: the owner's and members' roles, the services to enable."""
    spec = {
        "roles": section.get("roles", list, ["roles/owner"]),
        "member_roles": section.get("member_roles", list, ["roles/editor"]),
        "services": section.get("services", list, []),
    }
    for key, pattern, what in (("roles", _ROLE, "an IAM role like roles/editor"),
                               ("member_roles", _ROLE, "an IAM role like roles/editor"),
                               ("services", _SERVICE, "a service like compute.googleapis.com")):
        for i, value in enumerate(spec[key]):
            if not isinstance(value, str) or not pattern.match(value):
                raise section.fail(f"{key}[{i}]", f"must be {what}, got {value!r}")
    if not spec["roles"]:
        raise section.fail("roles", "must grant the owner at least one role")
    return spec


CLOUD = Cloud(
    name="gcp",
    title="GCP",
    settings=GcpSettings,
    provider_class="sandbox.providers.gcp.provider:GcpProvider",
    placement_key="gcp_folder",
    read_spec=read_spec,
    spend_source="gcp-billing-export",  # the Cloud Billing export in BigQuery
    cloud_id_steps=("project_id",),
    close_steps=("delete_requested",),
    # Not PERMISSION_DENIED: Google answers 403 alike for a project that does not exist and
    # for one whose owner removed our access; read_tags of a DELETE_REQUESTED project is NOT_FOUND.
    gone_codes=frozenset({"NOT_FOUND"}),
    emulator="sandbox.emulators.gcp:serve_forever",
    emulator_port=8085,
)
