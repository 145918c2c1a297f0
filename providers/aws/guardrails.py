"""Service control policies: what stops a sandbox's own administrator from outliving a freeze.

Two policies, created and kept current by `sandbox admin bootstrap`, checked by the tags job:
  frozen      on the frozen and closed OUs: every action denied to every principal but the
              access role (the daemon's way in). A move into the frozen OU is the freeze.
  guardrails  on the active OU (and department OUs outside it): the access role cannot be
              deleted or re-trusted, the account cannot leave the organization, and, with
              [aws] allowed_regions, other regions are denied (global services exempt).
SCPs never restrict the management account, which is where the daemon moves and closes
accounts from (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html).
An SCP document holds at most 5,120 characters.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sandbox.errors import ProviderError
from sandbox.providers.aws.calls import AwsClients, aws_errors
from sandbox.providers.aws.organizations import Organization, normalize_path
from sandbox.providers.aws.settings import AwsSettings

log = logging.getLogger("sandbox.aws")

SCP = "SERVICE_CONTROL_POLICY"
FROZEN_POLICY = "sandbox-cloud-frozen"
GUARDRAIL_POLICY = "sandbox-cloud-guardrails"
MAX_POLICY_CHARS = 5120

# Actions on the access role only the access role itself may take.
ROLE_CHANGES = [
    "iam:AttachRolePolicy", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:TagRole", "iam:UntagRole",
]

# Global services a region deny must exempt: AWS's own example list,
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html#example-scp-deny-region
GLOBAL_ACTIONS = [
    "a4b:*", "acm:*", "aws-marketplace-management:*", "aws-marketplace:*", "aws-portal:*", "budgets:*",
    "ce:*", "chime:*", "cloudfront:*", "config:*", "cur:*", "directconnect:*", "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways", "fms:*", "globalaccelerator:*", "health:*",
    "iam:*", "importexport:*", "kms:*", "mobileanalytics:*", "networkmanager:*", "organizations:*",
    "pricing:*", "route53:*", "route53domains:*", "route53-recovery-cluster:*",
    "route53-recovery-control-config:*", "route53-recovery-readiness:*", "s3:GetAccountPublic*",
    "s3:ListAllMyBuckets", "s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*", "shield:*", "sts:*",
    "support:*", "trustedadvisor:*", "waf-regional:*", "waf:*", "wafv2:*", "wellarchitected:*",
]


def _not_the_access_role(settings: AwsSettings) -> dict[str, Any]:
    return {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{settings.access_role}"}}


def frozen_document(settings: AwsSettings) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "FrozenDenyAllButAccessRole", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": _not_the_access_role(settings)}]}


def guardrail_document(settings: AwsSettings) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {"Sid": "ProtectAccessRole", "Effect": "Deny", "Action": ROLE_CHANGES,
         "Resource": f"arn:aws:iam::*:role/{settings.access_role}", "Condition": _not_the_access_role(settings)},
        {"Sid": "StayInOrganization", "Effect": "Deny", "Action": "organizations:LeaveOrganization",
         "Resource": "*"},
    ]
    if settings.allowed_regions:
        statements.append({
            "Sid": "AllowedRegionsOnly", "Effect": "Deny", "NotAction": GLOBAL_ACTIONS, "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(settings.allowed_regions)},
                          **_not_the_access_role(settings)}})
    return {"Version": "2012-10-17", "Statement": statements}


def _text(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


class Guardrails:
    def __init__(self, settings: AwsSettings, clients: AwsClients, org: Organization):
        self.settings = settings
        self.clients = clients
        self.org = org

    def wanted(self) -> dict[str, str]:
        """Policy name → its document, as the config asks today."""
        return {FROZEN_POLICY: _text(frozen_document(self.settings)),
                GUARDRAIL_POLICY: _text(guardrail_document(self.settings))}

    def targets(self) -> dict[str, str]:
        """OU path → the policy it must carry. Department OUs under the active OU inherit it."""
        s = self.settings
        active = normalize_path(s.active_ou)
        found = {normalize_path(s.frozen_ou): FROZEN_POLICY, normalize_path(s.closed_ou): FROZEN_POLICY,
                 active: GUARDRAIL_POLICY}
        for department in s.departments:
            path = normalize_path(s.department_location(department) or active)
            if not (path + "/").startswith(active + "/"):
                found.setdefault(path, GUARDRAIL_POLICY)
        return found

    # -- bootstrap ------------------------------------------------------------------------

    def ensure(self) -> list[str]:
        """Enable SCPs on the root, create or update both policies, attach them. Idempotent."""
        lines = [self._enable_scps()]
        existing = self._policies()
        ids: dict[str, str] = {}
        for name, text in self.wanted().items():
            if len(text) > MAX_POLICY_CHARS:
                raise ProviderError(f"AWS policy {name} would be {len(text)} characters, more than the "
                                    f"{MAX_POLICY_CHARS} AWS allows; list fewer [aws] allowed_regions",
                                    retryable=False, code="PolicyTooLarge")
            ids[name], line = self._ensure_policy(name, text, existing.get(name))
            lines.append(line)
        for path, name in self.targets().items():
            ou_id = self.org.require_ou(path)
            attached = {p["Id"] for p in self._attached(ou_id, path)}
            if ids[name] in attached:
                lines.append(f"exists policy {name} on OU {path}")
                continue
            with aws_errors("AttachPolicy", f"OU {path}"):
                try:
                    self._org.attach_policy(PolicyId=ids[name], TargetId=ou_id)
                except self._org.exceptions.DuplicatePolicyAttachmentException:
                    pass
            log.info("event=policy_attached policy=%s ou_path=%s", name, path)
            lines.append(f"attached policy {name} to OU {path}")
        return lines

    @property
    def _org(self) -> Any:
        return self.clients.get("organizations")

    def _enable_scps(self) -> str:
        root = self.org.root_id()
        with aws_errors("ListRoots", "the organization"):
            types = self._org.list_roots()["Roots"][0].get("PolicyTypes", [])
        if any(t["Type"] == SCP and t["Status"] == "ENABLED" for t in types):
            return "exists service control policies enabled"
        with aws_errors("EnablePolicyType", "the organization root"):
            try:
                self._org.enable_policy_type(RootId=root, PolicyType=SCP)
            except self._org.exceptions.PolicyTypeAlreadyEnabledException:
                return "exists service control policies enabled"
        log.info("event=scp_enabled root=%s", root)
        return "enabled service control policies"

    def _policies(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        with aws_errors("ListPolicies", "the organization"):
            for page in self._org.get_paginator("list_policies").paginate(Filter=SCP):
                found.update({p["Name"]: p for p in page["Policies"] if p["Name"] in self.wanted()})
        return found

    def _content(self, policy_id: str, name: str) -> str:
        with aws_errors("DescribePolicy", f"policy {name}"):
            return self._org.describe_policy(PolicyId=policy_id)["Policy"]["Content"]

    def _ensure_policy(self, name: str, text: str, existing: dict[str, Any] | None) -> tuple[str, str]:
        if existing is None:
            with aws_errors("CreatePolicy", f"policy {name}"):
                policy = self._org.create_policy(Name=name, Type=SCP, Content=text,
                                                 Description="Sandbox Cloud enforcement (do not edit)")
            log.info("event=policy_created policy=%s", name)
            return policy["Policy"]["PolicySummary"]["Id"], f"created policy {name}"
        if _same(self._content(existing["Id"], name), text):
            return existing["Id"], f"exists policy {name}"
        with aws_errors("UpdatePolicy", f"policy {name}"):
            self._org.update_policy(PolicyId=existing["Id"], Content=text)
        log.info("event=policy_updated policy=%s", name)
        return existing["Id"], f"updated policy {name}"

    def _attached(self, ou_id: str, path: str) -> list[dict[str, Any]]:
        with aws_errors("ListPoliciesForTarget", f"OU {path}"):
            pages = self._org.get_paginator("list_policies_for_target").paginate(TargetId=ou_id, Filter=SCP)
            return [policy for page in pages for policy in page["Policies"]]

    # -- checks ---------------------------------------------------------------------------

    def problems(self) -> dict[str, str]:
        """OU path (or policy name) → what is missing or changed; {} when all is in place."""
        found: dict[str, str] = {}
        existing = self._policies()
        for name, text in self.wanted().items():
            if name not in existing:
                found[name] = f"policy {name} does not exist; run: sandbox admin bootstrap"
            elif not _same(self._content(existing[name]["Id"], name), text):
                found[name] = f"policy {name} differs from what the config asks; run: sandbox admin bootstrap"
        for path, name in self.targets().items():
            ou_id = self.org.find_ou(path)
            if ou_id is None:
                found[path] = f"OU {path} does not exist; run: sandbox admin bootstrap"
            elif name in existing and existing[name]["Id"] not in {p["Id"] for p in self._attached(ou_id, path)}:
                found[path] = f"policy {name} is not attached to OU {path}; run: sandbox admin bootstrap"
        return found


def _same(content: str, text: str) -> bool:
    try:
        return _text(json.loads(content)) == text
    except ValueError:
        return False
