"""Cleaner kinds for IAM, the account's one global namespace (see cleaner.py).

Kept: roles matching the protected globs (the access role always among them), the
customer policies and instance profiles those roles use, service-linked roles (AWS makes
and owns them, under /aws-service-role/; deleting one is an asynchronous request that
breaks the service using it), and users matching the protected user globs.
"""

from __future__ import annotations

from typing import Iterator

from botocore.exceptions import ClientError

from sandbox.providers.aws import members as iam_members
from sandbox.providers.aws.cleaner import Context, Kind, Resource, matches, pages
from sandbox.providers.aws.calls import is_code

SERVICE_LINKED_PATH = "/aws-service-role/"


def _iam(ctx: Context):
    return ctx.client("iam", ctx.home_region)


def _kept_role(ctx: Context, role: dict) -> bool:
    return matches(role["RoleName"], ctx.protected_roles) or role.get("Path", "").startswith(SERVICE_LINKED_PATH)


def _kept_roles(ctx: Context) -> list[str]:
    return [role["RoleName"] for role in pages(_iam(ctx), "list_roles", "Roles") if _kept_role(ctx, role)]


def _gone_ok(call, **kwargs) -> None:
    try:
        call(**kwargs)
    except ClientError as exc:
        if not is_code(exc, "NoSuchEntity"):
            raise


# -- instance profiles and roles -------------------------------------------------------------------

def list_instance_profiles(ctx: Context, region: str) -> Iterator[Resource]:
    for profile in pages(_iam(ctx), "list_instance_profiles", "InstanceProfiles"):
        roles = [role["RoleName"] for role in profile.get("Roles", [])]
        if matches(profile["InstanceProfileName"], ctx.protected_roles) or any(
                _kept_role(ctx, role) for role in profile.get("Roles", [])):
            continue
        yield Resource("iam:instance-profile", region, profile["InstanceProfileName"], profile["Arn"],
                       {"roles": roles})


def delete_instance_profile(ctx: Context, r: Resource) -> None:
    iam = _iam(ctx)
    for role in r.detail.get("roles", []):
        _gone_ok(iam.remove_role_from_instance_profile, InstanceProfileName=r.key, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=r.key)


def list_roles(ctx: Context, region: str) -> Iterator[Resource]:
    for role in pages(_iam(ctx), "list_roles", "Roles"):
        if not _kept_role(ctx, role):
            yield Resource("iam:role", region, role["RoleName"], role["Arn"])


def delete_role(ctx: Context, r: Resource) -> None:
    iam = _iam(ctx)
    for policy in pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=r.key):
        _gone_ok(iam.detach_role_policy, RoleName=r.key, PolicyArn=policy["PolicyArn"])
    for name in pages(iam, "list_role_policies", "PolicyNames", RoleName=r.key):
        _gone_ok(iam.delete_role_policy, RoleName=r.key, PolicyName=name)
    for profile in pages(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=r.key):
        _gone_ok(iam.remove_role_from_instance_profile, InstanceProfileName=profile["InstanceProfileName"],
                 RoleName=r.key)
    iam.delete_role(RoleName=r.key)


# -- users and groups --------------------------------------------------------------------------------

def list_users(ctx: Context, region: str) -> Iterator[Resource]:
    for user in pages(_iam(ctx), "list_users", "Users"):
        if not matches(user["UserName"], ctx.protected_users):
            yield Resource("iam:user", region, user["UserName"], user["Arn"])


def delete_user(ctx: Context, r: Resource) -> None:
    """What members.delete_user does not know about (users made by hand), then it."""
    iam = _iam(ctx)
    for key in iam.list_ssh_public_keys(UserName=r.key).get("SSHPublicKeys", []):
        _gone_ok(iam.delete_ssh_public_key, UserName=r.key, SSHPublicKeyId=key["SSHPublicKeyId"])
    for cert in iam.list_signing_certificates(UserName=r.key).get("Certificates", []):
        _gone_ok(iam.delete_signing_certificate, UserName=r.key, CertificateId=cert["CertificateId"])
    iam_members.delete_user(iam, ctx.account_id, r.key)


def list_groups(ctx: Context, region: str) -> Iterator[Resource]:
    for group in pages(_iam(ctx), "list_groups", "Groups"):
        yield Resource("iam:group", region, group["GroupName"], group["Arn"])


def delete_group(ctx: Context, r: Resource) -> None:
    iam = _iam(ctx)
    for user in iam.get_group(GroupName=r.key).get("Users", []):
        _gone_ok(iam.remove_user_from_group, GroupName=r.key, UserName=user["UserName"])
    for policy in pages(iam, "list_attached_group_policies", "AttachedPolicies", GroupName=r.key):
        _gone_ok(iam.detach_group_policy, GroupName=r.key, PolicyArn=policy["PolicyArn"])
    for name in pages(iam, "list_group_policies", "PolicyNames", GroupName=r.key):
        _gone_ok(iam.delete_group_policy, GroupName=r.key, PolicyName=name)
    iam.delete_group(GroupName=r.key)


# -- customer-managed policies -----------------------------------------------------------------------

def list_policies(ctx: Context, region: str) -> Iterator[Resource]:
    iam = _iam(ctx)
    kept = {policy["PolicyArn"] for role in _kept_roles(ctx)
            for policy in pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role)}
    for policy in pages(iam, "list_policies", "Policies", Scope="Local"):
        if policy["Arn"] not in kept:
            yield Resource("iam:policy", region, policy["Arn"], policy["Arn"])


def delete_policy(ctx: Context, r: Resource) -> None:
    iam = _iam(ctx)
    entities = iam.list_entities_for_policy(PolicyArn=r.key)
    for user in entities.get("PolicyUsers", []):
        _gone_ok(iam.detach_user_policy, UserName=user["UserName"], PolicyArn=r.key)
    for group in entities.get("PolicyGroups", []):
        _gone_ok(iam.detach_group_policy, GroupName=group["GroupName"], PolicyArn=r.key)
    for role in entities.get("PolicyRoles", []):
        _gone_ok(iam.detach_role_policy, RoleName=role["RoleName"], PolicyArn=r.key)
    for version in iam.list_policy_versions(PolicyArn=r.key)["Versions"]:
        if not version["IsDefaultVersion"]:
            _gone_ok(iam.delete_policy_version, PolicyArn=r.key, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=r.key)


# Profiles before roles (a role in a profile cannot be deleted), users before groups,
# policies last (nothing is attached to them by then).
KINDS = [
    Kind("iam:instance-profile", list_instance_profiles, delete_instance_profile, global_=True),
    Kind("iam:role", list_roles, delete_role, global_=True),
    Kind("iam:user", list_users, delete_user, global_=True),
    Kind("iam:group", list_groups, delete_group, global_=True),
    Kind("iam:policy", list_policies, delete_policy, global_=True),
]
