"""What the toy provider tells core about itself (registered as the `toy` entry point)."""

from __future__ import annotations

import re
from typing import Any

from sandbox.fields import TableReader
from sandbox.provider import Cloud
from sandbox_toycloud.settings import ToySettings

_ROLE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def read_spec(section: TableReader, kind: str) -> dict[str, Any]:
    """A template's [toy] table: the role the owner gets, and the one members get."""
    spec = {
        "owner_role": section.get("owner_role", str, "owner"),
        "member_role": section.get("member_role", str, "member"),
    }
    for key, role in spec.items():
        if not _ROLE.match(role):
            raise section.fail(key, f"must be a lowercase word like owner, got {role!r}")
    return spec


CLOUD = Cloud(
    name="toy",
    title="Toy",
    settings=ToySettings,
    provider_class="sandbox_toycloud.provider:ToyProvider",
    placement_key="toy_location",
    read_spec=read_spec,
    cloud_id_steps=("resource_id",),
    close_steps=("closed",),
    gone_codes=frozenset({"NOT_FOUND"}),
)
