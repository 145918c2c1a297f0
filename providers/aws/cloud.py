"""What the AWS provider tells core about itself (registered as the `aws` entry point).
Imports no AWS SDK: the provider class loads on first use."""

from __future__ import annotations

import re
from typing import Any

from sandbox.fields import TableReader
from sandbox.provider import Cloud
from sandbox.providers.aws.settings import AwsSettings

_POLICY_ARN = re.compile(r"^arn:aws:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")


def read_spec(section: TableReader, kind: str) -> dict[str, Any]:
    """A template's [aws] table: how members get in, and which IAM policies they get."""
    spec = {
        "console_login": section.get("console_login", bool, True),
        "access_keys": section.get("access_keys", bool, False),
        "policies": section.get("policies", list, []),
    }
    for i, arn in enumerate(spec["policies"]):
        if not isinstance(arn, str) or not _POLICY_ARN.match(arn):
            raise section.fail(f"policies[{i}]", f"is not an IAM policy ARN: {arn!r}")
    if not spec["console_login"] and not spec["access_keys"]:
        raise section.fail("console_login", "and access_keys are both false: members would get no access")
    return spec


CLOUD = Cloud(
    name="aws",
    title="AWS",
    settings=AwsSettings,
    provider_class="sandbox.providers.aws.provider:AwsProvider",
    placement_key="aws_ou",
    read_spec=read_spec,
    stores_secrets=True,  # console passwords and access keys
    spend_source="aws-ce",  # Cost Explorer
    cloud_id_steps=("account_id",),
    close_steps=("close_requested",),
    gone_codes=frozenset({"TargetNotFoundException", "AccountNotFoundException"}),
    emulator="sandbox.emulators.aws:serve_forever",
    emulator_port=5000,
)
