"""AWS Organizations: the OU tree by path, member accounts, their moves and closure."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from sandbox.errors import CloseQuotaError, ProviderError

from sandbox.providers.aws.calls import AwsClients, aws_errors, error_code, is_code, translate

log = logging.getLogger("sandbox.aws")

# DescribeCreateAccountStatus FailureReasons that may pass if we simply try again.
RETRYABLE_CREATE_FAILURES = frozenset({"CONCURRENT_ACCOUNT_MODIFICATION", "INTERNAL_FAILURE"})
CLOSED_STATES = frozenset({"SUSPENDED", "PENDING_CLOSURE", "CLOSED"})

# Service Quotas' "Default maximum number of accounts" of Organizations, and its documented
# default (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
ACCOUNT_QUOTA_SERVICE = "organizations"
ACCOUNT_QUOTA_CODE = "L-29A0C5DF"
DOCUMENTED_ACCOUNT_LIMIT = 10
ACCOUNT_LIMIT_CACHE_SECONDS = 300.0  # a granted increase is seen within five minutes


@dataclass(frozen=True)
class AccountLimit:
    """The organization's account quota and where its value came from."""

    value: int
    source: str


def normalize_path(path: str) -> str:
    parts = [p for p in path.strip().split("/") if p]
    return "/" + "/".join(parts)


def path_prefixes(path: str) -> list[str]:
    """/a/b/c -> [/a, /a/b, /a/b/c]"""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def account_state(account: dict[str, Any]) -> str:
    """State (2025 API) when present, else the older Status: ACTIVE, SUSPENDED, ..."""
    return account.get("State") or account.get("Status") or "UNKNOWN"


class Organization:
    """OU ids are looked up by path once per provider instance and cached."""

    def __init__(self, clients: AwsClients):
        self.clients = clients
        self._ou_ids: dict[str, str] = {}
        self._account_limit: tuple[AccountLimit, float] | None = None  # (limit, good until)

    @property
    def org(self) -> Any:
        return self.clients.get("organizations")

    # -- the organization and its OU tree ---------------------------------------------

    def ensure_organization(self) -> str:
        with aws_errors("DescribeOrganization", "the organization"):
            try:
                org = self.org.describe_organization()["Organization"]
                return f"exists organization {org['Id']}"
            except self.org.exceptions.AWSOrganizationsNotInUseException:
                pass
            org = self.org.create_organization(FeatureSet="ALL")["Organization"]
            log.info("event=organization_created organization=%s", org["Id"])
            return f"created organization {org['Id']}"

    def root_id(self) -> str:
        if "/" not in self._ou_ids:
            with aws_errors("ListRoots", "the organization"):
                self._ou_ids["/"] = self.org.list_roots()["Roots"][0]["Id"]
        return self._ou_ids["/"]

    def _children(self, parent_id: str, subject: str) -> Iterator[dict[str, Any]]:
        with aws_errors("ListOrganizationalUnitsForParent", f"OU {subject}"):
            paginator = self.org.get_paginator("list_organizational_units_for_parent")
            for page in paginator.paginate(ParentId=parent_id):
                yield from page["OrganizationalUnits"]

    def find_ou(self, path: str) -> str | None:
        """The OU id at `path`, or None when some part of it does not exist."""
        path = normalize_path(path)
        if path in self._ou_ids:
            return self._ou_ids[path]
        parent_id = self.root_id()
        parent_path = "/"
        for prefix in path_prefixes(path):
            if prefix not in self._ou_ids:
                name = prefix.rsplit("/", 1)[1]
                found = next((ou for ou in self._children(parent_id, parent_path)
                              if ou["Name"] == name), None)
                if found is None:
                    return None
                self._ou_ids[prefix] = found["Id"]
            parent_id, parent_path = self._ou_ids[prefix], prefix
        return parent_id

    def require_ou(self, path: str) -> str:
        ou_id = self.find_ou(path)
        if ou_id is None:
            raise ProviderError(f"AWS OU {normalize_path(path)} does not exist; "
                                "run: sandbox admin bootstrap", retryable=False, code="OUNotFound")
        return ou_id

    def ensure_ou(self, path: str) -> list[tuple[str, str, bool]]:
        """Create every missing component of `path`: (path, OU id, created) for each."""
        result = []
        parent_id = self.root_id()
        for prefix in path_prefixes(normalize_path(path)):
            ou_id = self.find_ou(prefix)
            created = False
            if ou_id is None:
                name = prefix.rsplit("/", 1)[1]
                with aws_errors("CreateOrganizationalUnit", f"OU {prefix}"):
                    try:
                        ou_id = self.org.create_organizational_unit(
                            ParentId=parent_id, Name=name)["OrganizationalUnit"]["Id"]
                        created = True
                    except self.org.exceptions.DuplicateOrganizationalUnitException:
                        # Another bootstrap won the race; use its OU.
                        ou_id = next(ou["Id"] for ou in self._children(parent_id, prefix)
                                     if ou["Name"] == name)
                self._ou_ids[prefix] = ou_id
                log.info("event=ou_%s path=%s ou=%s", "created" if created else "exists",
                         prefix, ou_id)
            result.append((prefix, ou_id, created))
            parent_id = ou_id
        return result

    # -- accounts -----------------------------------------------------------------------

    def find_account_by_email(self, email: str, subject: str) -> str | None:
        with aws_errors("ListAccounts", subject):
            for page in self.org.get_paginator("list_accounts").paginate():
                for account in page["Accounts"]:
                    if account["Email"].lower() == email.lower():
                        return account["Id"]
        return None

    def count_accounts(self) -> int:
        """The accounts that count against the account quota: every one the organization
        holds but CLOSED. A closed account stays SUSPENDED (or PENDING_CLOSURE) for its
        90-day post-closure period and counts all that time, as ACTIVE ones do."""
        with aws_errors("ListAccounts", "the organization"):
            return sum(1 for page in self.org.get_paginator("list_accounts").paginate()
                       for account in page["Accounts"] if account_state(account) != "CLOSED")

    def account_limit(self) -> AccountLimit | None:
        """The most accounts the organization may hold (cached a few minutes); None when
        Service Quotas cannot say for now (throttled, unavailable): CreateAccount itself
        still enforces the quota then."""
        cached = self._account_limit
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        limit = self._read_account_limit()
        if limit is not None:
            self._account_limit = (limit, time.monotonic() + ACCOUNT_LIMIT_CACHE_SECONDS)
        return limit

    def _read_account_limit(self) -> AccountLimit | None:
        """GetServiceQuota (the applied value, an increase included); without one
        (NoSuchResourceException), GetAWSDefaultServiceQuota; when that fails too, AWS's
        documented default of 10. None when GetServiceQuota may not be read (denied) or
        fails for now: the default would then understate a raised quota."""
        subject = f"quota {ACCOUNT_QUOTA_SERVICE} {ACCOUNT_QUOTA_CODE}"
        quotas = self.clients.service_quotas()
        names = {"ServiceCode": ACCOUNT_QUOTA_SERVICE, "QuotaCode": ACCOUNT_QUOTA_CODE}
        try:
            value = quotas.get_service_quota(**names)["Quota"].get("Value")
            if value is not None:
                return AccountLimit(int(value), f"the applied quota {ACCOUNT_QUOTA_CODE}")
        except (ClientError, BotoCoreError) as exc:
            if is_code(exc, "AccessDeniedException"):
                log.warning("event=account_quota_unreadable hint=%r",
                            "allow servicequotas:GetServiceQuota so the pool sees the account quota")
                return None
            if not is_code(exc, "NoSuchResourceException"):
                error = translate(exc, "GetServiceQuota", subject)
                if not error.retryable:  # the credentials or the request: the operator's to fix
                    raise error from exc
                log.warning("event=account_quota_unknown code=%s error=%r", error.code, str(error))
                return None
            log.info("event=account_quota_not_applied code=%s", error_code(exc))
        try:
            value = quotas.get_aws_default_service_quota(**names)["Quota"].get("Value")
            if value is not None:
                return AccountLimit(int(value), f"the AWS default of quota {ACCOUNT_QUOTA_CODE}")
        except (ClientError, BotoCoreError) as exc:
            # With no applied value the limit is AWS's default, which AWS documents.
            log.warning("event=account_quota_default_unread operation=GetAWSDefaultServiceQuota code=%s",
                        error_code(exc))
        return AccountLimit(DOCUMENTED_ACCOUNT_LIMIT, "AWS's documented default; Service Quotas did not "
                            f"give quota {ACCOUNT_QUOTA_CODE}")

    def create_account(self, email: str, name: str, tags: dict[str, str]) -> str:
        with aws_errors("CreateAccount", name):
            status = self.org.create_account(
                Email=email, AccountName=name, RoleName=self.clients.settings.access_role,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )["CreateAccountStatus"]
        log.info("event=create_account_requested name=%s request_id=%s", name, status["Id"])
        return status["Id"]

    def create_status(self, request_id: str, name: str) -> dict[str, Any] | None:
        """The request's status, or None when AWS no longer knows the request."""
        with aws_errors("DescribeCreateAccountStatus", name):
            try:
                return self.org.describe_create_account_status(
                    CreateAccountRequestId=request_id)["CreateAccountStatus"]
            except ClientError as exc:
                # moto answers an unknown request id with AccountNotFoundException.
                if is_code(exc, "CreateAccountStatusNotFoundException", "AccountNotFoundException"):
                    return None
                raise

    def wait_for_account(self, request_id: str, name: str) -> dict[str, Any] | None:
        """Poll until SUCCEEDED or FAILED; the final status (None: request unknown)."""
        settings = self.clients.settings
        deadline = time.monotonic() + settings.poll_timeout_seconds
        while True:
            status = self.create_status(request_id, name)
            if status is None or status["State"] != "IN_PROGRESS":
                return status
            if time.monotonic() + settings.poll_seconds > deadline:
                raise ProviderError(
                    f"AWS CreateAccount for {name} still IN_PROGRESS after "
                    f"{settings.poll_timeout_seconds:g}s (request {request_id}); retry later",
                    retryable=True, code="IN_PROGRESS")
            time.sleep(settings.poll_seconds)

    def describe_account(self, account_id: str) -> dict[str, Any] | None:
        with aws_errors("DescribeAccount", f"account {account_id}"):
            try:
                return self.org.describe_account(AccountId=account_id)["Account"]
            except self.org.exceptions.AccountNotFoundException:
                return None

    def parent_of(self, account_id: str) -> str:
        with aws_errors("ListParents", f"account {account_id}"):
            return self.org.list_parents(ChildId=account_id)["Parents"][0]["Id"]

    def move(self, account_id: str, path: str) -> bool:
        """Move the account into the OU at `path`; False when it was already there."""
        destination = self.require_ou(path)
        source = self.parent_of(account_id)
        if source == destination:
            return False
        with aws_errors("MoveAccount", f"account {account_id}"):
            self.org.move_account(AccountId=account_id, SourceParentId=source,
                                  DestinationParentId=destination)
        log.info("event=account_moved account=%s ou_path=%s ou=%s",
                 account_id, normalize_path(path), destination)
        return True

    def close(self, account_id: str) -> None:
        with aws_errors("CloseAccount", f"account {account_id}"):
            try:
                self.org.close_account(AccountId=account_id)
            except self.org.exceptions.AccountAlreadyClosedException:
                return
            except self.org.exceptions.ConstraintViolationException as exc:
                if _reason(exc) == "CLOSE_ACCOUNT_QUOTA_EXCEEDED":
                    raise CloseQuotaError(
                        f"AWS CloseAccount for account {account_id} refused: at most 10% of "
                        "member accounts may close per 30 days; the close is retried later"
                    ) from exc
                raise
        log.info("event=account_close_requested account=%s", account_id)

    def accounts_in(self, ou_id: str, path: str) -> Iterator[dict[str, Any]]:
        with aws_errors("ListAccountsForParent", f"OU {path}"):
            paginator = self.org.get_paginator("list_accounts_for_parent")
            for page in paginator.paginate(ParentId=ou_id):
                yield from page["Accounts"]

    # -- tags ---------------------------------------------------------------------------

    def tag(self, resource_id: str, tags: dict[str, str]) -> None:
        if not tags:
            return
        with aws_errors("TagResource", f"account {resource_id}"):
            self.org.tag_resource(ResourceId=resource_id,
                                  Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def read_tags(self, resource_id: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        with aws_errors("ListTagsForResource", f"account {resource_id}"):
            for page in self.org.get_paginator("list_tags_for_resource").paginate(
                    ResourceId=resource_id):
                tags.update({t["Key"]: t["Value"] for t in page["Tags"]})
        return tags


def _reason(exc: Any) -> str:
    """Organizations puts ConstraintViolationException's Reason at the top level of the
    parsed response (a modeled field); older parsers left it in Error."""
    response = getattr(exc, "response", {}) or {}
    reason = response.get("Reason") or response.get("Error", {}).get("Reason") or ""
    if not reason and "CLOSE_ACCOUNT_QUOTA_EXCEEDED" in str(exc):
        reason = "CLOSE_ACCOUNT_QUOTA_EXCEEDED"
    return reason

