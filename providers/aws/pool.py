"""The AWS side of the account pool (sandbox.provider.AccountPool), mixed into AwsProvider.

Each pool state is an OU (settings [aws.pool] *_ou). The cleaning and quarantined OUs
carry the frozen SCP (everything denied but the access role, which the cleaner uses);
ready and leased carry the guardrails. A leased account lives in its department's OU, as
a created one does: the leased OU only holds accounts between a lease and that move.
What state an account is in, how many passes it has passed, is core's to remember.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sandbox.errors import ProviderError
from sandbox.provider import POOL_STATES, Placement, Plan, StepStore
from sandbox.providers.aws.calls import aws_errors
from sandbox.providers.aws.cleaner import account_cleaner
from sandbox.providers.aws.guardrails import FROZEN_POLICY, GUARDRAIL_POLICY
from sandbox.providers.aws.organizations import (ACCOUNT_QUOTA_CODE, CLOSED_STATES, account_state,
                                                   normalize_path)

if TYPE_CHECKING:
    from sandbox.providers.aws.calls import AwsClients
    from sandbox.providers.aws.guardrails import Guardrails
    from sandbox.providers.aws.organizations import Organization
    from sandbox.providers.aws.settings import AwsSettings

log = logging.getLogger("sandbox.aws.pool")

POLICY_OF_STATE = {"ready": GUARDRAIL_POLICY, "leased": GUARDRAIL_POLICY,
                   "cleaning": FROZEN_POLICY, "quarantined": FROZEN_POLICY}


class AccountPoolMixin:
    """AccountPool for AwsProvider (uses its settings, clients, org, guardrails)."""

    settings: "AwsSettings"
    clients: "AwsClients"
    org: "Organization"
    guardrails: "Guardrails"

    if TYPE_CHECKING:  # AwsProvider's own
        def _remove_member_users(self, account_id: str, plan: Plan, steps: StepStore) -> str | None: ...

        def _delete_budget(self, plan: Plan, steps: StepStore) -> None: ...

    def pool_enabled(self) -> bool:
        return self.settings.pool.enabled

    def pool_ou(self, state: str) -> str:
        if state not in POOL_STATES:
            raise ValueError(f"unknown pool state {state!r}")
        return normalize_path(self.settings.pool.ous()[state])

    def pool_bootstrap(self) -> list[str]:
        """The pool OUs and their SCPs; run after Guardrails.ensure made the policies."""
        lines: list[str] = []
        policies = self.guardrails._policies()
        for state in POOL_STATES:
            path = self.pool_ou(state)
            for ou_path, ou_id, created in self.org.ensure_ou(path):
                if ou_path == path or created:
                    lines.append(f"{'created' if created else 'exists'} OU {ou_path} ({ou_id})")
            name = POLICY_OF_STATE[state]
            policy_id = policies[name]["Id"]
            ou_id = self.org.require_ou(path)
            if policy_id in {p["Id"] for p in self.guardrails._attached(ou_id, path)}:
                lines.append(f"exists policy {name} on OU {path}")
                continue
            with aws_errors("AttachPolicy", f"OU {path}"):
                try:
                    self.guardrails._org.attach_policy(PolicyId=policy_id, TargetId=ou_id)
                except self.guardrails._org.exceptions.DuplicatePolicyAttachmentException:
                    pass
            lines.append(f"attached policy {name} to OU {path}")
        return lines

    def pool_problems(self) -> dict[str, str]:
        found: dict[str, str] = {}
        policies = self.guardrails._policies()
        for state in POOL_STATES:
            path, name = self.pool_ou(state), POLICY_OF_STATE[state]
            ou_id = self.org.find_ou(path)
            if ou_id is None:
                found[path] = f"OU {path} does not exist; run: sandbox admin bootstrap"
            elif name in policies and policies[name]["Id"] not in {
                    p["Id"] for p in self.guardrails._attached(ou_id, path)}:
                found[path] = f"policy {name} is not attached to OU {path}; run: sandbox admin bootstrap"
        return found

    def pool_create(self, name: str) -> str:
        """Synchronous (the pool job, never a request, waits for it): CreateAccount, poll,
        then into the cleaning OU, so it is cleaned before its first lease."""
        pattern = self.settings.pool.email_pattern or self.settings.email_pattern
        email = pattern.format(name=name)
        account_id = self.org.find_account_by_email(email, name)  # an interrupted create made it
        if account_id is None:
            self._require_account_room(name)
            request_id = self.org.create_account(email, name, {"sandbox-pool": "true"})
            status = self.org.wait_for_account(request_id, name)
            if status is None or status["State"] == "FAILED":
                reason = (status or {}).get("FailureReason", "UNKNOWN")
                if reason == "EMAIL_ALREADY_EXISTS":
                    account_id = self.org.find_account_by_email(email, name)
                if account_id is None:
                    raise ProviderError(f"AWS CreateAccount for pool account {name} failed: {reason}",
                                        retryable=reason != "ACCOUNT_LIMIT_EXCEEDED", code=reason)
            else:
                account_id = status["AccountId"]
        self.org.move(account_id, self.pool_ou("cleaning"))
        log.info("event=pool_account_created name=%s account=%s", name, account_id)
        return account_id

    def _require_account_room(self, name: str) -> None:
        """Refuse, before CreateAccount, when the organization already holds as many
        accounts as its quota allows: the refusal CreateAccount's ACCOUNT_LIMIT_EXCEEDED
        would give, without a FAILED request left behind."""
        limit = self.org.account_limit()
        if limit is None:  # Service Quotas cannot say now: CreateAccount enforces the quota
            return
        held = self.org.count_accounts()
        if held < limit.value:
            return
        log.warning("event=pool_account_quota_reached name=%s accounts=%d limit=%d", name, held, limit.value)
        raise ProviderError(
            f"AWS account quota reached: the organization holds {held} accounts (closed ones count "
            f"for 90 days) and may hold {limit.value} ({limit.source}); pool account {name} not "
            f"created: request an increase of quota organizations {ACCOUNT_QUOTA_CODE} in Service "
            "Quotas (us-east-1), or retire quarantined or unused pool accounts with: "
            "sandbox admin pool retire ID (a closed account frees its place after 90 days)",
            retryable=False, code="ACCOUNT_LIMIT_EXCEEDED")

    def pool_move(self, cloud_id: str, state: str) -> None:
        self.org.move(cloud_id, self.pool_ou(state))

    def pool_clean(self, cloud_id: str, dry_run: bool = False) -> dict[str, Any]:
        pool = self.settings.pool
        cleaner = account_cleaner(self.clients, cloud_id, self.settings.cleaner_regions(), pool.protected_roles,
                                  self.settings.protected_users, poll_seconds=self.settings.poll_seconds,
                                  wait_seconds=self.settings.poll_timeout_seconds)
        return cleaner.clean(dry_run=dry_run).as_dict()

    def pool_release(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Into the cleaning OU first (its SCP stops every member at once), then the members'
        users and the budget; the cleaner takes the rest. Idempotent."""
        account_id = placement.cloud_id
        cleaning = self.pool_ou("cleaning")
        steps.progress(f"moving account {account_id} to OU {cleaning}")
        self.org.move(account_id, cleaning)
        tampering = self._remove_member_users(account_id, plan, steps)  # tampered: its clean fails
        self._delete_budget(plan, steps)
        result: dict[str, Any] = {"account_id": account_id, "location": cleaning, "pool": "cleaning"}
        return {**result, "tampering": tampering} if tampering else result

    def pool_retire(self, cloud_id: str) -> dict[str, Any]:
        account = self.org.describe_account(cloud_id)
        if account is None:
            return {"account_id": cloud_id, "account_status": "NOT_FOUND"}
        self.org.move(cloud_id, self.settings.closed_ou)
        if account_state(account) not in CLOSED_STATES:
            self.org.close(cloud_id)  # CloseQuotaError: the caller retries later
        account = self.org.describe_account(cloud_id) or {}
        return {"account_id": cloud_id, "account_status": account_state(account) if account else "NOT_FOUND"}
