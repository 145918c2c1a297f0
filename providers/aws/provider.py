"""AwsProvider: one member account per sandbox in an AWS Organization.

Step keys this provider keeps in the StepStore (all plain JSON values):
  create_started     the root e-mail, saved just before CreateAccount is sent
  create_request_id  CreateAccount request being polled (None once it FAILED)
  create_failure     FailureReason of the last FAILED request, for the audit trail
  account_id         the member account
  moved_to           OU path the account was moved into by provision
  tagged             True once the cost tags are set
  member:<email>     True once that member's IAM user, policies and credentials exist
  budget             name of the AWS Budget in the management account
  freeze:moved       the frozen OU the account was moved into by the current freeze
  freeze:revoked     IAM users whose login and keys that freeze took (both cleared by unfreeze)
  members_removed, budget_deleted, close_requested   destroy's progress
Secrets (per member e-mail): password, access_key_id, secret_access_key.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sandbox.providers.aws.settings import AwsSettings
from sandbox.errors import ProviderError
from sandbox.provider import (
    ManagedResource,
    Member,
    Placement,
    Plan,
    SpendReport,
    StepStore,
)

from sandbox.providers.aws import members as iam_members
from sandbox.providers.aws.calls import AwsClients, ClientFactory, aws_errors, tag_text
from sandbox.providers.aws.guardrails import Guardrails
from sandbox.providers.aws.pool import AccountPoolMixin
from sandbox.providers.aws.organizations import (
    CLOSED_STATES,
    RETRYABLE_CREATE_FAILURES,
    Organization,
    account_state,
    normalize_path,
)

log = logging.getLogger("sandbox.aws")


class AccessRoleTampered(ProviderError):
    """The access role is gone or no longer trusts the management account."""

    def __init__(self, message: str):
        super().__init__(f"AWS {message}", retryable=False, code="AccessRoleTampered")


def _trusts(document: Any, account_id: str) -> bool:
    """Does a role trust policy let `account_id` (its root or any of its principals) assume it?"""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        principals = (statement.get("Principal") or {}).get("AWS", []) if isinstance(
            statement.get("Principal"), dict) else []
        for entry in principals if isinstance(principals, list) else [principals]:
            if entry == account_id or str(entry).startswith(f"arn:aws:iam::{account_id}:"):
                return True
    return False


class AwsProvider(AccountPoolMixin):  # the account pool: providers/aws/pool.py
    name = "aws"

    def __init__(self, settings: AwsSettings, client_factory: ClientFactory | None = None):
        self.settings = settings
        self.clients = AwsClients(settings, client_factory)
        self.org = Organization(self.clients)
        self.guardrails = Guardrails(settings, self.clients, self.org)

    # -- bootstrap ------------------------------------------------------------------------

    def bootstrap(self) -> list[str]:
        lines = [self.org.ensure_organization()]
        seen: set[str] = set()
        for path in self.settings.managed_ous():
            for ou_path, ou_id, created in self.org.ensure_ou(path):
                if ou_path not in seen:
                    seen.add(ou_path)
                    lines.append(f"{'created' if created else 'exists'} OU {ou_path} ({ou_id})")
        lines += self.guardrails.ensure()
        return lines + self.pool_bootstrap() if self.pool_enabled() else lines

    # -- provision ------------------------------------------------------------------------

    def provision(self, plan: Plan, steps: StepStore) -> Placement:
        # Fail before CreateAccount, not after, when the department's OU is missing.
        self.org.require_ou(plan.location)
        account_id = self._ensure_account(plan, steps)
        placement = Placement(cloud_id=account_id, location=normalize_path(plan.location))

        if steps.get("moved_to") != placement.location:
            steps.progress(f"moving account {account_id} to OU {placement.location}")
            self.org.move(account_id, placement.location)
            steps.put("moved_to", placement.location)

        if not steps.get("tagged"):
            steps.progress(f"tagging account {account_id}")
            self.tag(placement, plan.tags)
            steps.put("tagged", True)

        for member in plan.members:
            key = f"member:{member.email}"
            if not steps.get(key):
                steps.progress(f"granting {member.email} access to account {account_id}")
                self.grant(placement, plan, member, steps)
                steps.put(key, True)

        if plan.budget_usd and not steps.get("budget"):
            steps.progress(f"creating budget of {plan.budget_usd} USD")
            steps.put("budget", self._create_budget(plan, account_id))

        log.info("event=provisioned sandbox=%s account=%s ou_path=%s",
                 plan.sandbox_id, account_id, placement.location)
        return placement

    def _ensure_account(self, plan: Plan, steps: StepStore) -> str:
        account_id = steps.get("account_id")
        if account_id:
            return account_id
        request_id = steps.get("create_request_id")
        email = self.settings.email_pattern.format(name=plan.name)
        if not request_id:
            # A crash after CreateAccount but before its request id was saved must not
            # make a second account: the deterministic e-mail finds the first one. Only
            # look when an earlier attempt got that far: listing every account of a big
            # organization before each new one would cost hundreds of calls.
            account_id = self.org.find_account_by_email(email, plan.name) if steps.get("create_started") else None
            if account_id:
                steps.progress(f"found account {account_id} for {plan.name}")
                steps.put("account_id", account_id)
                return account_id
            steps.put("create_started", email)
            steps.progress(f"creating account {plan.name}")
            request_id = self.org.create_account(email, plan.name, self.desired_tags(plan.tags))
            steps.put("create_request_id", request_id)
        steps.progress(f"waiting for account {plan.name} (request {request_id})")
        status = self.org.wait_for_account(request_id, plan.name)
        if status is None:  # AWS forgot the request (they expire after 90 days)
            steps.put("create_request_id", None)
            return self._ensure_account(plan, steps)
        if status["State"] == "FAILED":
            reason = status.get("FailureReason", "UNKNOWN")
            # A FAILED request stays FAILED: forget it so the next attempt creates anew.
            steps.put("create_request_id", None)
            if reason == "EMAIL_ALREADY_EXISTS":
                # CreateAccount has no idempotency token and botocore retries a 5xx: when the
                # first request's answer was lost, the retry fails on the account it made.
                # The e-mail is this sandbox's own, so an account in our organization with
                # it is ours (one outside it stays an error).
                account_id = self.org.find_account_by_email(email, plan.name)
                if account_id:
                    steps.progress(f"found account {account_id} for {plan.name}")
                    steps.put("account_id", account_id)
                    return account_id
            steps.put("create_failure", reason)
            log.warning("event=create_account_failed name=%s reason=%s", plan.name, reason)
            raise ProviderError(f"AWS CreateAccount for {plan.name} failed: {reason}",
                                retryable=reason in RETRYABLE_CREATE_FAILURES, code=reason)
        account_id = status["AccountId"]
        steps.put("account_id", account_id)
        log.info("event=account_created name=%s account=%s", plan.name, account_id)
        return account_id

    def _create_budget(self, plan: Plan, account_id: str) -> str:
        name = f"sandbox-{plan.name}"
        owner = next((m for m in plan.members if m.role == "owner"),
                     plan.members[0] if plan.members else None)
        notifications = [] if owner is None else [{
            "Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                             "Threshold": float(t.percent), "ThresholdType": "PERCENTAGE"},
            "Subscribers": [{"SubscriptionType": "EMAIL", "Address": owner.email}],
        } for t in plan.thresholds]
        budgets = self.clients.get("budgets")
        with aws_errors("CreateBudget", f"budget {name}"):
            try:
                budgets.create_budget(
                    AccountId=self.clients.management_account(),
                    Budget={
                        "BudgetName": name,
                        "BudgetLimit": {"Amount": str(plan.budget_usd), "Unit": "USD"},
                        "CostFilters": {"LinkedAccount": [account_id]},
                        "TimeUnit": "MONTHLY",
                        "BudgetType": "COST",
                    },
                    NotificationsWithSubscribers=notifications,
                )
                log.info("event=budget_created budget=%s account=%s", name, account_id)
            except budgets.exceptions.DuplicateRecordException:
                pass
        return name

    # -- members --------------------------------------------------------------------------

    def grant(self, placement: Placement, plan: Plan, member: Member, steps: StepStore) -> None:
        iam = self.clients.member_iam(placement.cloud_id)
        iam_members.grant_user(iam, placement.cloud_id, plan, member, steps)

    def revoke(self, placement: Placement, plan: Plan, member: Member) -> None:
        iam = self.clients.member_iam(placement.cloud_id)
        iam_members.revoke_user(iam, placement.cloud_id, member)

    def access_info(self, placement: Placement, plan: Plan, member: Member,
                    steps: StepStore) -> dict[str, Any]:
        info: dict[str, Any] = {
            "console_url": f"https://{placement.cloud_id}.signin.aws.amazon.com/console",
            "account_id": placement.cloud_id,
            "user_name": iam_members.iam_user_name(member.email),
        }
        if plan.spec.get("console_login", True):
            info["password"] = steps.get_secret(member.email, "password")
            info["password_reset_required"] = True
        if plan.spec.get("access_keys", False):
            info["access_key_id"] = steps.get_secret(member.email, "access_key_id")
            info["secret_access_key"] = steps.get_secret(member.email, "secret_access_key")
        return info

    # -- freeze ---------------------------------------------------------------------------

    def freeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Into the frozen OU first: its deny-all SCP stops everyone but the access role at
        once. Then every IAM user not protected loses its login and keys, whoever made it
        (a freeze that found the access role gone still holds through the SCP)."""
        account_id = placement.cloud_id
        frozen_ou = normalize_path(self.settings.frozen_ou)
        if steps.get("freeze:moved") != frozen_ou:
            steps.progress(f"moving account {account_id} to OU {frozen_ou}")
            self.org.move(account_id, frozen_ou)
            steps.put("freeze:moved", frozen_ou)
        detail: dict[str, Any] = {"location": frozen_ou}
        revoked = steps.get("freeze:revoked")
        if revoked is None:
            steps.progress(f"revoking every IAM user's login and keys in account {account_id}")
            try:
                iam = self._member_iam(account_id)
            except AccessRoleTampered as exc:
                return {**detail, "revoked_users": [], "tampering": str(exc)}
            revoked = iam_members.revoke_everyone(iam, account_id, self.settings.protected_users)
            steps.put("freeze:revoked", revoked)
        return {**detail, "revoked_users": revoked}

    def unfreeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Members granted again while still frozen, the move back last: a grant that fails
        leaves the account in the frozen OU, as the database says."""
        account_id = placement.cloud_id
        iam = self._member_iam(account_id)
        for member in plan.members:
            steps.progress(f"granting {member.email} access to account {account_id} again")
            iam_members.grant_user(iam, account_id, plan, member, steps)
        steps.progress(f"moving account {account_id} to OU {normalize_path(plan.location)}")
        self.org.move(account_id, plan.location)
        for key in ("freeze:moved", "freeze:revoked"):
            if steps.get(key) is not None:
                steps.put(key, None)
        return {"location": normalize_path(plan.location), "granted": [m.email for m in plan.members]}

    def _member_iam(self, account_id: str) -> Any:
        """IAM in the member account, once the access role is seen to still trust us.

        A sandbox administrator may delete the role or change its trust (before the
        guardrail SCP, or where it is missing); real AWS then refuses AssumeRole, and
        moto, which does not check, shows it in GetRole.
        """
        role = self.settings.access_role
        try:
            iam = self.clients.member_iam(account_id)
            with aws_errors("GetRole", f"role {role} in account {account_id}"):
                document = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        except ProviderError as exc:
            if exc.code in ("AccessDenied", "NoSuchEntity"):
                raise AccessRoleTampered(f"role {role} in account {account_id} cannot be used ({exc.code}): "
                                         "it was deleted or its trust changed") from exc
            raise
        management = self.clients.management_account()
        if not _trusts(document, management):
            raise AccessRoleTampered(f"role {role} in account {account_id} no longer trusts the "
                                     f"management account {management}: its trust policy was changed")
        return iam

    def check_guardrails(self) -> dict[str, str]:
        problems = self.guardrails.problems()
        return {**problems, **self.pool_problems()} if self.pool_enabled() else problems

    # -- tags -----------------------------------------------------------------------------

    def desired_tags(self, tags: dict[str, str]) -> dict[str, str]:
        """Characters Organizations refuses become "_"; keys cut to 128, values to 256.

        Tags are only ever set, never removed: a key someone added by hand stays.
        """
        result = {}
        for key, value in tags.items():
            result[tag_text(key, 128)] = tag_text(value)
        return result

    def tag(self, placement: Placement, tags: dict[str, str]) -> dict[str, str]:
        """Organizations allows 50 tags per account; ours are far fewer, so nothing is dropped."""
        self.org.tag(placement.cloud_id, self.desired_tags(tags))
        return {}

    def read_tags(self, placement: Placement) -> dict[str, str]:
        return self.org.read_tags(placement.cloud_id)

    # -- spend ----------------------------------------------------------------------------

    def spend(self, placements: list[Placement], start: date, end: date) -> SpendReport:
        """Daily UnblendedCost in [start, end) from ONE GetCostAndUsage per page for the
        whole organization, grouped by linked account: Cost Explorer bills every request
        ($0.01), so never one call per account. Every requested account gets every day of
        the range (0 where Cost Explorer lists nothing). Its data lags up to 24 hours."""
        days = [start + timedelta(days=n) for n in range(max((end - start).days, 0))]
        by_account = {p.cloud_id: {day: Decimal(0) for day in days} for p in placements}
        requests = 0
        if by_account and days:
            ce = self.clients.get("ce")
            kwargs: dict[str, Any] = {
                "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                "Granularity": "DAILY",
                "Metrics": ["UnblendedCost"],
                "GroupBy": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
            }
            while True:
                with aws_errors("GetCostAndUsage", "the organization"):
                    page = ce.get_cost_and_usage(**kwargs)
                requests += 1
                for period in page.get("ResultsByTime", []):
                    day = date.fromisoformat(period["TimePeriod"]["Start"])
                    for group in period.get("Groups", []):
                        daily = by_account.get(group["Keys"][0])
                        if daily is not None and day in daily:
                            daily[day] += Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                token = page.get("NextPageToken")
                if not token:
                    break
                kwargs["NextPageToken"] = token
        log.info("event=spend_read start=%s end=%s accounts=%d requests=%d",
                 start, end, len(by_account), requests)
        return SpendReport(by_cloud_id=dict(by_account), start=start, end=end, requests=requests)

    # -- destroy --------------------------------------------------------------------------

    def _remove_member_users(self, account_id: str, plan: Plan, steps: StepStore) -> str | None:
        """Delete the members' IAM users (by name, and any tagged for the sandbox), once.
        Returns the access-role tampering that prevented it: reported, never a reason for a
        teardown to stop."""
        if steps.get("members_removed"):
            return None
        steps.progress(f"removing members' IAM users from account {account_id}")
        tampering = None
        try:
            iam = self._member_iam(account_id)
        except AccessRoleTampered as exc:
            tampering = str(exc)
        else:
            users = [iam_members.iam_user_name(m.email) for m in plan.members]
            users += iam_members.users_tagged(iam, account_id, plan.sandbox_id)
            for user in dict.fromkeys(users):
                iam_members.delete_user(iam, account_id, user)
        steps.put("members_removed", True)
        return tampering

    def destroy(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        account_id = placement.cloud_id or steps.get("account_id")
        if not account_id:  # provisioning stopped early: the e-mail finds what it made
            email = self.settings.email_pattern.format(name=plan.name)
            account_id = self.org.find_account_by_email(email, plan.name)
        account = self.org.describe_account(account_id) if account_id else None
        if not account_id or account is None:
            self._delete_budget(plan, steps)
            return {"account_id": account_id, "account_status": "NOT_FOUND"}
        closed = account_state(account) in CLOSED_STATES

        # The closed OU's deny-all SCP first; then members' users, which needs the access
        # role, so its loss is reported, never a reason to stop before CloseAccount.
        steps.progress(f"moving account {account_id} to OU {self.settings.closed_ou}")
        self.org.move(account_id, self.settings.closed_ou)
        tampering = None if closed else self._remove_member_users(account_id, plan, steps)

        self._delete_budget(plan, steps)

        if not closed:
            steps.progress(f"closing account {account_id}")
            self.org.close(account_id)  # CloseQuotaError: the service retries later
        steps.put("close_requested", True)

        account = self.org.describe_account(account_id) or {}
        status = account_state(account) if account else "NOT_FOUND"
        log.info("event=destroyed sandbox=%s account=%s status=%s",
                 plan.sandbox_id, account_id, status)
        result = {"account_id": account_id, "account_status": status}
        return {**result, "tampering": tampering} if tampering else result

    def _delete_budget(self, plan: Plan, steps: StepStore) -> None:
        if steps.get("budget_deleted"):
            return
        name = steps.get("budget") or f"sandbox-{plan.name}"
        budgets = self.clients.get("budgets")
        with aws_errors("DeleteBudget", f"budget {name}"):
            try:
                budgets.delete_budget(AccountId=self.clients.management_account(),
                                      BudgetName=name)
                log.info("event=budget_deleted budget=%s", name)
            except budgets.exceptions.NotFoundException:
                pass
        steps.put("budget_deleted", True)

    # -- reconcile ------------------------------------------------------------------------

    def list_managed(self) -> list[ManagedResource]:
        found = []
        for path in self.settings.managed_ous():
            path = normalize_path(path)
            ou_id = self.org.find_ou(path)
            if ou_id is None:
                log.warning("event=managed_ou_missing ou_path=%s hint=run_admin_bootstrap", path)
                continue
            for account in self.org.accounts_in(ou_id, path):
                state = account_state(account)
                found.append(ManagedResource(
                    cloud_id=account["Id"],
                    name=account.get("Name", ""),
                    location=path,
                    state="active" if state == "ACTIVE" else
                          "closed" if state in CLOSED_STATES else state.lower(),
                    tags=self.org.read_tags(account["Id"]),
                ))
        return found
