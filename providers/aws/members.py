"""IAM users for sandbox members, inside the member account (reached by an assumed role).

One IAM user per member, named after the member's e-mail. Secrets (the console password,
the access key) are stored through the StepStore before AWS sees them, so a crash never
leaves a credential nobody knows.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
import secrets
import string
from typing import Any

from botocore.exceptions import ClientError

from sandbox.provider import Member, Plan, StepStore

from sandbox.providers.aws.calls import aws_errors, is_code, tag_text

log = logging.getLogger("sandbox.aws")

_NOT_IAM_NAME = re.compile(r"[^\w+=,.@-]")
_SYMBOLS = "!@#$%^&*()_+-=[]{}|'"


def iam_user_name(email: str) -> str:
    """IAM user names are 1-64 of [A-Za-z0-9_+=,.@-]: an e-mail fits as is, unless long.

    One that had to change (too long, or a character IAM refuses, as in o'brien@) keeps
    at most 55 characters plus a hash of the whole address, so o'brien@ and o-brien@, or
    two long addresses with a common prefix, still get distinct users.
    """
    address = email.strip().lower()
    name = _NOT_IAM_NAME.sub("-", address)
    if name != address or len(name) > 64:
        digest = hashlib.sha256(address.encode()).hexdigest()[:8]
        name = f"{name[:55]}-{digest}"
    return name


def generate_password(length: int = 24) -> str:
    """Satisfies AWS's default password policy (8+ characters, 3 of 4 character classes)
    and any stricter one up to 24 characters with all four classes."""
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, _SYMBOLS]
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def grant_user(iam: Any, account_id: str, plan: Plan, member: Member, steps: StepStore) -> str:
    """Create (or restore) the member's user, policies, console login and access key."""
    user = iam_user_name(member.email)
    subject = f"user {user} in account {account_id}"
    spec = plan.spec
    with aws_errors("CreateUser", subject):
        try:
            iam.create_user(UserName=user, Tags=[
                {"Key": "sandbox-id", "Value": plan.sandbox_id},
                # An e-mail may hold ' or %, which IAM refuses in a tag value.
                {"Key": "sandbox-member", "Value": tag_text(member.email)},
            ])
            log.info("event=iam_user_created account=%s user=%s", account_id, user)
        except iam.exceptions.EntityAlreadyExistsException:
            pass
    for arn in spec.get("policies", []):
        with aws_errors("AttachUserPolicy", subject):
            iam.attach_user_policy(UserName=user, PolicyArn=arn)  # idempotent in AWS
    if spec.get("console_login", True):
        _ensure_login_profile(iam, user, subject, member, steps)
    if spec.get("access_keys", False):
        _ensure_access_key(iam, user, subject, member, steps)
    return user


def _ensure_login_profile(iam: Any, user: str, subject: str, member: Member,
                          steps: StepStore) -> None:
    password = steps.get_secret(member.email, "password")
    if not password:
        password = generate_password()
        steps.put_secret(member.email, "password", password)
    with aws_errors("CreateLoginProfile", subject):
        try:
            iam.create_login_profile(UserName=user, Password=password,
                                     PasswordResetRequired=True)
        except iam.exceptions.EntityAlreadyExistsException:
            # A resumed grant, or a profile someone else made: make the stored one true.
            iam.update_login_profile(UserName=user, Password=password,
                                     PasswordResetRequired=True)


def _ensure_access_key(iam: Any, user: str, subject: str, member: Member,
                       steps: StepStore) -> None:
    stored_id = steps.get_secret(member.email, "access_key_id")
    stored_secret = steps.get_secret(member.email, "secret_access_key")
    with aws_errors("ListAccessKeys", subject):
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    for key in keys:
        if key["AccessKeyId"] == stored_id and stored_secret:
            if key["Status"] != "Active":
                with aws_errors("UpdateAccessKey", subject):
                    iam.update_access_key(UserName=user, AccessKeyId=stored_id, Status="Active")
            return
    # No key we know the secret of: drop the unknown ones (an interrupted grant, or a
    # key made by hand; AWS allows two per user) and make one we store.
    for key in keys:
        with aws_errors("DeleteAccessKey", subject):
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    with aws_errors("CreateAccessKey", subject):
        key = iam.create_access_key(UserName=user)["AccessKey"]
    steps.put_secret(member.email, "access_key_id", key["AccessKeyId"])
    steps.put_secret(member.email, "secret_access_key", key["SecretAccessKey"])
    log.info("event=access_key_created user=%s access_key_id=%s", user, key["AccessKeyId"])


def revoke_user(iam: Any, account_id: str, member: Member) -> None:
    """No console login, every access key Inactive; the user and its policies stay."""
    _revoke(iam, account_id, iam_user_name(member.email))


def revoke_everyone(iam: Any, account_id: str, protected: list[str]) -> list[str]:
    """`revoke_user` for every IAM user in the account whose name matches no `protected`
    glob: the sandbox's administrator may have renamed their user or made others. Returns
    the users revoked."""
    with aws_errors("ListUsers", f"account {account_id}"):
        users = [user["UserName"] for page in iam.get_paginator("list_users").paginate() for user in page["Users"]]
    revoked = [user for user in users if not any(fnmatch.fnmatchcase(user, glob) for glob in protected)]
    for user in revoked:
        _revoke(iam, account_id, user)
    return revoked


def _revoke(iam: Any, account_id: str, user: str) -> None:
    subject = f"user {user} in account {account_id}"
    with aws_errors("DeleteLoginProfile", subject):
        try:
            iam.delete_login_profile(UserName=user)
        except iam.exceptions.NoSuchEntityException:
            pass
    with aws_errors("ListAccessKeys", subject):
        try:
            keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        except iam.exceptions.NoSuchEntityException:
            keys = []
    for key in keys:
        if key["Status"] != "Inactive":
            with aws_errors("UpdateAccessKey", subject):
                iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"],
                                      Status="Inactive")
    log.info("event=member_revoked account=%s user=%s", account_id, user)


def users_tagged(iam: Any, account_id: str, sandbox_id: str) -> list[str]:
    """IAM users in the account carrying tag sandbox-id=<sandbox_id>."""
    found = []
    with aws_errors("ListUsers", f"account {account_id}"):
        for page in iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                try:
                    tags = iam.list_user_tags(UserName=user["UserName"])["Tags"]
                except iam.exceptions.NoSuchEntityException:
                    continue
                if {"Key": "sandbox-id", "Value": sandbox_id} in tags:
                    found.append(user["UserName"])
    return found


def delete_user(iam: Any, account_id: str, user: str) -> bool:
    """Delete the user and what AWS requires gone first; False when there was no user."""
    with aws_errors("DeleteUser", f"user {user} in account {account_id}"):
        try:
            iam.get_user(UserName=user)
        except iam.exceptions.NoSuchEntityException:
            return False
        _delete_user(iam, user)
    log.info("event=iam_user_deleted account=%s user=%s", account_id, user)
    return True


def _delete_user(iam: Any, user: str) -> None:
    def gone_ok(call: Any, **kwargs: Any) -> Any:
        try:
            return call(UserName=user, **kwargs)
        except ClientError as exc:
            if is_code(exc, "NoSuchEntity"):
                return None
            raise

    gone_ok(iam.delete_login_profile)
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        gone_ok(iam.delete_access_key, AccessKeyId=key["AccessKeyId"])
    for policy in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]:
        gone_ok(iam.detach_user_policy, PolicyArn=policy["PolicyArn"])
    for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
        gone_ok(iam.delete_user_policy, PolicyName=name)
    for group in iam.list_groups_for_user(UserName=user)["Groups"]:
        iam.remove_user_from_group(GroupName=group["GroupName"], UserName=user)
    for device in iam.list_mfa_devices(UserName=user)["MFADevices"]:
        gone_ok(iam.deactivate_mfa_device, SerialNumber=device["SerialNumber"])
    gone_ok(iam.delete_user)
