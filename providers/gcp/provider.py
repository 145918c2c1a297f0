"""GcpProvider: one sandbox = one GCP project under a managed folder.

Provisioning steps and the StepStore keys that record them (each saved before the next
step starts, so a retry resumes):
  project_id        the id chosen by naming.project_id_for(plan.name), saved BEFORE create
  project_created   True once the create operation finished (or we found our own project)
  billing_linked    the billing account linked, "" when gcp.billing_account is empty
  services_enabled  the services enabled
  member:<email>    True once that member's roles are in the IAM policy
Destroy: members_removed, billing_unlinked, delete_requested (the purge date, ISO).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sandbox.providers.gcp.settings import GcpSettings
from sandbox.errors import ProviderError
from sandbox.provider import ManagedResource, Member, Placement, Plan, SpendReport, StepStore

from sandbox.providers.gcp.calls import GoogleCalls
from sandbox.providers.gcp.cost import CostSource, UnknownCost
from sandbox.providers.gcp.folders import FolderResolver
from sandbox.providers.gcp.iam import IamPolicies, add_members, principal, remove_members, roles_of
from sandbox.providers.gcp.naming import (OWNER_LABEL, display_name_for, label_value, project_id_for,
                                  sanitize_labels)

log = logging.getLogger("sandbox.gcp")

PURGE_AFTER = timedelta(days=30)  # DELETE_REQUESTED projects are purged after 30 days
BATCH_ENABLE_MAX = 20  # serviceusage services.batchEnable takes at most 20 services
CONSOLE_URL = "https://console.cloud.google.com/home/dashboard?project={project_id}"
_NOT_VISIBLE = ("NOT_FOUND", "PERMISSION_DENIED")  # GCP answers 403 for unknown projects


class GcpProvider:
    name = "gcp"

    def __init__(self, settings: GcpSettings):
        self.settings = settings
        self.calls = GoogleCalls(settings)
        self.folders = FolderResolver(self.calls, settings.organization)
        self.iam = IamPolicies(self.calls)
        self.cost_source: CostSource = UnknownCost()

    # ---- folders -------------------------------------------------------------------
    def bootstrap(self) -> list[str]:
        lines: dict[str, str] = {}  # one line per folder path; the first one seen wins
        for location in self.settings.managed_folders():
            for path, line in self.folders.ensure(location):
                lines.setdefault(path, line)
        return list(lines.values())

    # ---- provisioning --------------------------------------------------------------
    def provision(self, plan: Plan, steps: StepStore) -> Placement:
        resuming = steps.get("project_id") is not None
        project_id = steps.get("project_id") or project_id_for(plan.name)
        labels = self._labels(plan)  # invalid tags fail before anything is created
        if not resuming:
            steps.put("project_id", project_id)
        if not steps.get("project_created"):
            folder = self.folders.resolve(plan.location)
            steps.progress(f"creating project {project_id} in {plan.location} ({folder})")
            self._create_project(project_id, folder, plan, labels, look_first=resuming)
            steps.put("project_created", True)
        if steps.get("billing_linked") is None:
            steps.put("billing_linked", self._link_billing(project_id, steps))
        if steps.get("services_enabled") is None:
            steps.put("services_enabled", self._enable_services(project_id, plan, steps))
        pending = [m for m in plan.members if not steps.get(f"member:{m.email}")]
        if pending:
            steps.progress("granting " + ", ".join(f"{m.email} ({m.role})" for m in pending))
            self.iam.update(project_id, lambda policy: any(
                [add_members(policy, [principal(m.email)], _roles_for(plan, m)) for m in pending]))
            for m in pending:
                steps.put(f"member:{m.email}", True)
        log.info("provisioned project=%s folder=%s", project_id, plan.location)
        return Placement(cloud_id=project_id, location=plan.location)

    def _labels(self, plan: Plan) -> dict[str, str]:
        labels = self.desired_tags(plan.tags)
        labels[OWNER_LABEL] = label_value(plan.sandbox_id)
        return sanitize_labels(labels)  # re-checks the 64-label limit with ours added

    def _create_project(self, project_id: str, folder: str, plan: Plan,
                        labels: dict[str, str], look_first: bool) -> None:
        from google.cloud import resourcemanager_v3

        if look_first:  # resuming: an earlier attempt may have created it already
            existing = self._find_project(project_id)
            if existing is not None:
                self._check_ours(existing, plan)
                return

        def create() -> Any:
            op = self.calls.projects.create_project(
                project=resourcemanager_v3.Project(
                    project_id=project_id, parent=folder, labels=labels,
                    display_name=display_name_for(plan.name, project_id)),
                retry=None)
            return self.calls.wait(op, "projects.create", project_id)

        try:
            self.calls.call("projects.create", project_id, create)
        except ProviderError as exc:
            if exc.code != "ALREADY_EXISTS":
                raise
            existing = self._find_project(project_id)
            if existing is None:
                raise ProviderError(
                    f"GCP project id {project_id} is taken by a project these credentials "
                    "cannot see; project ids are global and never reused",
                    code="ALREADY_EXISTS") from None
            self._check_ours(existing, plan)

    def _check_ours(self, project: Any, plan: Plan) -> None:
        found = project.labels.get(OWNER_LABEL)
        if found != label_value(plan.sandbox_id):
            raise ProviderError(
                f"GCP project {project.project_id} already exists but is not sandbox "
                f"{plan.sandbox_id}'s (label {OWNER_LABEL}={found or '(none)'}, parent "
                f"{project.parent}); project ids are never reused", code="ALREADY_EXISTS")
        if project.state.name != "ACTIVE":
            raise ProviderError(
                f"GCP project {project.project_id} of sandbox {plan.sandbox_id} is "
                f"{project.state.name}; restore it (gcloud projects undelete) or destroy the "
                "sandbox", code="FAILED_PRECONDITION")
        log.info("found own project=%s parent=%s", project.project_id, project.parent)

    def _link_billing(self, project_id: str, steps: StepStore) -> str:
        account = self.settings.billing_account
        if not account:
            steps.progress("no gcp.billing_account configured: project left without billing")
            return ""
        steps.progress(f"linking billing account {account}")
        self._set_billing(project_id, account)
        return account

    def _set_billing(self, project_id: str, account: str) -> None:
        def update() -> Any:
            return self.calls.discovery("cloudbilling").projects().updateBillingInfo(
                name=f"projects/{project_id}", body={"billingAccountName": account},
            ).execute(num_retries=0)

        try:
            self.calls.call("billing.updateBillingInfo", project_id, update)
        except ProviderError as exc:
            # GCP answers 403 (not 404) for an unknown billing account, the same as for
            # one we may not use; the project we just made is the lesser suspect.
            if account and exc.code in _NOT_VISIBLE:
                raise ProviderError(
                    f"{exc} (billing account {account} does not exist or these credentials "
                    "may not link projects to it: fix gcp.billing_account)",
                    code=exc.code) from None
            raise

    def _enable_services(self, project_id: str, plan: Plan, steps: StepStore) -> list[str]:
        services = list(dict.fromkeys(plan.spec.get("services", [])))
        if not services:
            return []
        steps.progress(f"enabling {len(services)} services: {', '.join(services)}")
        usage = self.calls.discovery("serviceusage").services()
        for start in range(0, len(services), BATCH_ENABLE_MAX):
            chunk = services[start:start + BATCH_ENABLE_MAX]
            op = self.calls.call("services.batchEnable", project_id, lambda: usage.batchEnable(
                parent=f"projects/{project_id}", body={"serviceIds": chunk},
            ).execute(num_retries=0))
            self.calls.wait_serviceusage(op, "services.batchEnable", project_id)
        return services

    # ---- members -------------------------------------------------------------------
    def grant(self, placement: Placement, plan: Plan, member: Member, steps: StepStore) -> None:
        roles = _roles_for(plan, member)
        self.iam.update(placement.cloud_id,
                        lambda policy: add_members(policy, [principal(member.email)], roles))
        steps.put(f"member:{member.email}", True)

    def revoke(self, placement: Placement, plan: Plan, member: Member) -> None:
        roles = _template_roles(plan)
        self.iam.update(placement.cloud_id,
                        lambda policy: remove_members(policy, [principal(member.email)], roles))

    def access_info(self, placement: Placement, plan: Plan, member: Member,
                    steps: StepStore) -> dict[str, Any]:
        policy = self.iam.read(placement.cloud_id)
        return {
            "console_url": CONSOLE_URL.format(project_id=placement.cloud_id),
            "project_id": placement.cloud_id,
            "roles": roles_of(policy, principal(member.email)),
        }

    # ---- moves ---------------------------------------------------------------------
    def freeze(self, placement: Placement, plan: Plan) -> None:
        if self.settings.frozen_folder:
            self._move(placement.cloud_id, self.folders.resolve(self.settings.frozen_folder))

    def unfreeze(self, placement: Placement, plan: Plan) -> None:
        if self.settings.frozen_folder:
            self._move(placement.cloud_id, self.folders.resolve(plan.location))

    def _move(self, project_id: str, folder: str) -> None:
        if self._get_project(project_id).parent == folder:
            return

        def move() -> Any:
            op = self.calls.projects.move_project(
                name=f"projects/{project_id}", destination_parent=folder, retry=None)
            return self.calls.wait(op, "projects.move", project_id)

        self.calls.call("projects.move", project_id, move)
        log.info("moved project=%s folder=%s", project_id, folder)

    # ---- tags ----------------------------------------------------------------------
    def desired_tags(self, tags: dict[str, str]) -> dict[str, str]:
        return sanitize_labels(tags)

    def read_tags(self, placement: Placement) -> dict[str, str]:
        return dict(self._get_project(placement.cloud_id).labels)

    def tag(self, placement: Placement, tags: dict[str, str]) -> None:
        """Our keys take the desired values; labels we did not set are kept."""
        from google.cloud import resourcemanager_v3
        from google.protobuf import field_mask_pb2

        project_id = placement.cloud_id
        current = dict(self._get_project(project_id).labels)
        labels = sanitize_labels({**current, **self.desired_tags(tags)})
        if labels == current:
            return

        def update() -> Any:
            op = self.calls.projects.update_project(
                project=resourcemanager_v3.Project(name=f"projects/{project_id}", labels=labels),
                update_mask=field_mask_pb2.FieldMask(paths=["labels"]), retry=None)
            return self.calls.wait(op, "projects.patch", project_id)

        self.calls.call("projects.patch", project_id, update)

    # ---- money ---------------------------------------------------------------------
    def spend(self, placements: list[Placement], start: date, end: date) -> SpendReport:
        by_id, requests = self.cost_source.daily([p.cloud_id for p in placements], start, end)
        return SpendReport(by_cloud_id=by_id, start=start, end=end, requests=requests)

    # ---- the end -------------------------------------------------------------------
    def destroy(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        project_id = placement.cloud_id
        purge_after = steps.get("delete_requested")
        if purge_after:
            return {"project_state": "DELETE_REQUESTED", "purge_after": purge_after}
        project = self._find_project(project_id)
        if project is None:
            log.info("destroy project=%s already gone", project_id)
            return {"project_state": "NOT_FOUND", "purge_after": None}
        if project.state.name == "ACTIVE":
            if not steps.get("members_removed"):
                steps.progress(f"removing members' roles from {project_id}")
                principals = [principal(m.email) for m in plan.members]
                self.iam.update(project_id, lambda policy: remove_members(
                    policy, principals, _template_roles(plan)))
                steps.put("members_removed", True)
            if not steps.get("billing_unlinked"):
                steps.progress(f"unlinking billing from {project_id}")
                self._set_billing(project_id, "")
                steps.put("billing_unlinked", True)
            steps.progress(f"deleting project {project_id}")
            project = self._delete_project(project_id)
            if project is None:
                return {"project_state": "NOT_FOUND", "purge_after": None}
        purge_after = _purge_date(project)
        steps.put("delete_requested", purge_after)
        return {"project_state": "DELETE_REQUESTED", "purge_after": purge_after}

    def _delete_project(self, project_id: str) -> Any:
        """The project after deletion; None if it is gone altogether."""

        def delete() -> Any:
            op = self.calls.projects.delete_project(name=f"projects/{project_id}", retry=None)
            return self.calls.wait(op, "projects.delete", project_id)

        try:
            return self.calls.call("projects.delete", project_id, delete)
        except ProviderError as exc:
            if exc.code not in ("FAILED_PRECONDITION", *_NOT_VISIBLE):
                raise
            project = self._find_project(project_id)  # deleted meanwhile by someone else?
            if project is not None and project.state.name == "ACTIVE":
                raise
            return project

    def list_managed(self) -> list[ManagedResource]:
        found: dict[str, ManagedResource] = {}
        for location in self.settings.managed_folders():
            folder = self.folders.find(location)
            if folder is None:
                log.warning("list_managed folder=%s missing (run: sandbox admin bootstrap)",
                            location)
                continue
            projects = self.calls.call("projects.list", location, lambda: list(
                self.calls.projects.list_projects(
                    request={"parent": folder, "show_deleted": True}, retry=None)))
            for project in projects:
                found.setdefault(project.project_id, ManagedResource(
                    cloud_id=project.project_id, name=project.display_name, location=location,
                    state=_STATES.get(project.state.name, project.state.name.lower()),
                    tags=dict(project.labels)))
        return list(found.values())

    # ---- helpers -------------------------------------------------------------------
    def _get_project(self, project_id: str) -> Any:
        return self.calls.call("projects.get", project_id, lambda: self.calls.projects.get_project(
            name=f"projects/{project_id}", retry=None))

    def _find_project(self, project_id: str) -> Any | None:
        try:
            return self._get_project(project_id)
        except ProviderError as exc:
            if exc.code in _NOT_VISIBLE:
                return None
            raise


_STATES = {"ACTIVE": "active", "DELETE_REQUESTED": "closed"}


def _roles_for(plan: Plan, member: Member) -> list[str]:
    if member.role == "owner":
        return list(plan.spec.get("roles") or ["roles/owner"])
    if member.role == "member":
        return list(plan.spec.get("member_roles") or ["roles/editor"])
    raise ProviderError(f"member {member.email} has unknown role {member.role!r} "
                        "(expected owner or member)", code="INVALID_ARGUMENT")


def _template_roles(plan: Plan) -> list[str]:
    return list(dict.fromkeys([*plan.spec.get("roles", ["roles/owner"]),
                               *plan.spec.get("member_roles", ["roles/editor"])]))


def _purge_date(project: Any) -> str:
    deleted = project.delete_time if project.delete_time else None
    moment = deleted if isinstance(deleted, datetime) else datetime.now(timezone.utc)
    return (moment + PURGE_AFTER).date().isoformat()
