"""GcpProvider: one sandbox = one GCP project under a managed folder.

Provisioning steps and the StepStore keys that record them (each saved before the next
step starts, so a retry resumes):
  project_id        the id chosen by naming.project_id_for(plan.name), saved BEFORE create
  project_created   True once the create operation finished (or we found our own project)
  billing_linked    the billing account linked, "" when gcp.billing_account is empty
  services_enabled  the services enabled
  member:<email>    True once that member's roles are in the IAM policy
Freeze (cleared by unfreeze): freeze:removed_bindings (saved before the setIamPolicy that
removes them), freeze:tampering, freeze:moved, freeze:billing_account (saved before the
unlink), freeze:billing_unlinked.
Destroy: removed_bindings (as freeze:removed_bindings), members_removed, billing_unlinked,
delete_requested (the purge date, ISO).

Gone means NOT_FOUND or DELETE_REQUESTED, never PERMISSION_DENIED: Google answers 403
alike for a project that does not exist and for one whose owner took this tool's access
away, so on a project we made a 403 is reported as lost access (`_lost_access`), never
taken for a deletion. Only while provisioning, before the project surely exists, does
403 mean "not there (yet)".
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from sandbox.providers.gcp.settings import EMULATOR_SERVICE_ACCOUNT, GcpSettings
from sandbox.errors import ConfigError, ProviderError
from sandbox.provider import ManagedResource, Member, Placement, Plan, SpendReport, StepStore

from sandbox.providers.gcp.calls import GoogleCalls
from sandbox.providers.gcp.cost import CostSource, cost_source_for
from sandbox.providers.gcp.folders import FolderResolver
from sandbox.providers.gcp.iam import (IamPolicies, add_members, holds_role, is_service_agent,
                                      merge_bindings, principal, remove_members, roles_of,
                                      strip_members)
from sandbox.providers.gcp.naming import (OWNER_LABEL, display_name_for, fit_labels, label_value,
                                  project_id_for, sanitize_labels)

log = logging.getLogger("sandbox.gcp")

PURGE_AFTER = timedelta(days=30)  # DELETE_REQUESTED projects are purged after 30 days
BATCH_ENABLE_MAX = 20  # serviceusage services.batchEnable takes at most 20 services
CONSOLE_URL = "https://console.cloud.google.com/home/dashboard?project={project_id}"
_NOT_VISIBLE = ("NOT_FOUND", "PERMISSION_DENIED")  # GCP answers 403 for unknown projects
FREEZE_REMOVED = "freeze:removed_bindings"
FREEZE_TAMPERING = "freeze:tampering"
FREEZE_MOVED = "freeze:moved"
FREEZE_BILLING = "freeze:billing_account"
FREEZE_BILLING_UNLINKED = "freeze:billing_unlinked"
FREEZE_STEPS = (FREEZE_REMOVED, FREEZE_TAMPERING, FREEZE_MOVED, FREEZE_BILLING, FREEZE_BILLING_UNLINKED)


class GcpProvider:
    name = "gcp"

    def __init__(self, settings: GcpSettings):
        self.settings = settings
        self.calls = GoogleCalls(settings)
        self.folders = FolderResolver(self.calls, settings.organization)
        self.iam = IamPolicies(self.calls)
        self.cost_source: CostSource = cost_source_for(settings, self.calls)

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
        self._update_policy(placement.cloud_id,
                            lambda policy: add_members(policy, [principal(member.email)], roles))
        steps.put(f"member:{member.email}", True)

    def revoke(self, placement: Placement, plan: Plan, member: Member) -> None:
        roles = _template_roles(plan)
        self._update_policy(placement.cloud_id,
                            lambda policy: remove_members(policy, [principal(member.email)], roles))

    def access_info(self, placement: Placement, plan: Plan, member: Member,
                    steps: StepStore) -> dict[str, Any]:
        policy = self._read_policy(placement.cloud_id)
        return {
            "console_url": CONSOLE_URL.format(project_id=placement.cloud_id),
            "project_id": placement.cloud_id,
            "roles": roles_of(policy, principal(member.email)),
        }

    # ---- freeze --------------------------------------------------------------------
    def freeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """Every principal's access taken away first (but this tool's and Google's service
        agents'), then the move to the frozen folder, then (freeze_unlinks_billing) the
        billing unlink. The removed bindings are saved before the write that removes
        them, so a retry returns them all; a second freeze finds nothing more to do."""
        project_id = placement.cloud_id
        identity = self.identity()  # unknown: fail before anything is touched
        project = self._live_project(project_id)
        number = project.name.rpartition("/")[2]
        steps.progress(f"removing every principal but {identity} and Google's service agents "
                       f"from project {project_id}")
        self._strip_access(project_id, number, identity, steps, saved_as=FREEZE_REMOVED)
        folder = self.settings.frozen_folder
        if folder and steps.get(FREEZE_MOVED) is None:
            steps.progress(f"moving project {project_id} to folder {folder}")
            self._move(project_id, self.folders.resolve(folder), parent=project.parent)
            steps.put(FREEZE_MOVED, folder)
        if self.settings.freeze_unlinks_billing and not steps.get(FREEZE_BILLING_UNLINKED):
            account = steps.get(FREEZE_BILLING)
            if account is None:  # saved before the unlink: unfreeze must know what to relink
                account = self._billing_account_of(project_id)
                steps.put(FREEZE_BILLING, account)
            if account:
                steps.progress(f"unlinking billing account {account} from project {project_id}")
                self._set_billing(project_id, "")
            steps.put(FREEZE_BILLING_UNLINKED, True)
        result: dict[str, Any] = {
            "location": steps.get(FREEZE_MOVED) or plan.location,
            "removed_bindings": steps.get(FREEZE_REMOVED) or [],
            "billing_unlinked": (steps.get(FREEZE_BILLING) or "") if steps.get(FREEZE_BILLING_UNLINKED) else "",
        }
        if steps.get(FREEZE_TAMPERING):
            result["tampering"] = steps.get(FREEZE_TAMPERING)
        log.info("frozen project=%s removed=%d", project_id, len(result["removed_bindings"]))
        return result

    def _strip_access(self, project_id: str, number: str, identity: str, steps: StepStore,
                      saved_as: str) -> None:
        """One read-modify-write: every member out of every binding but `identity` and the
        project's service agents. Our own identity with no unconditional role left (someone
        removed the owner role creation gave it) gets roles/owner back in the same write,
        recorded as tampering. The removed bindings are merged into `steps[saved_as]` before
        the write: a crash after it leaves the policy and the record agreeing, a crash before
        it leaves a record the retry finds again."""
        ours = identity.lower()

        def keep(member: str) -> bool:
            return member.lower() == ours or is_service_agent(member, number)

        def change(policy: Any) -> bool:
            removed = strip_members(policy, keep)
            restored = not holds_role(policy, identity)
            if restored:
                add_members(policy, [identity], ["roles/owner"])
                if saved_as == FREEZE_REMOVED and not steps.get(FREEZE_TAMPERING):
                    steps.put(FREEZE_TAMPERING, f"{identity} held no unconditional role on project {project_id} "
                              "(the roles/owner its creation gave it was removed); granted it again")
            saved = steps.get(saved_as)
            merged = merge_bindings(saved or [], removed)
            if merged != saved:
                steps.put(saved_as, merged)
            return bool(removed) or restored

        self._update_policy(project_id, change)

    def unfreeze(self, placement: Placement, plan: Plan, steps: StepStore) -> dict[str, Any]:
        """The template's roles for `plan.members` (nothing the freeze removed comes back),
        billing relinked if the freeze unlinked it, and the move back to the department
        last: until then the project is still in the frozen folder, as the database says."""
        project_id = placement.cloud_id
        project = self._live_project(project_id)
        roles = {m.email: _roles_for(plan, m) for m in plan.members}
        steps.progress("granting " + ", ".join(f"{m.email} ({m.role})" for m in plan.members))
        self._update_policy(project_id, lambda policy: any(
            [add_members(policy, [principal(m.email)], roles[m.email]) for m in plan.members]))
        for member in plan.members:
            steps.put(f"member:{member.email}", True)
        relinked = ""
        account = steps.get(FREEZE_BILLING)
        if account:  # saved before the unlink: relink even if the freeze stopped right after it
            steps.progress(f"linking billing account {account} to project {project_id} again")
            self._set_billing(project_id, account)
            relinked = account
        steps.progress(f"moving project {project_id} to folder {plan.location}")
        self._move(project_id, self.folders.resolve(plan.location), parent=project.parent)
        for key in FREEZE_STEPS:
            if steps.get(key) is not None:
                steps.put(key, None)
        log.info("unfrozen project=%s folder=%s", project_id, plan.location)
        return {"location": plan.location, "granted": [m.email for m in plan.members],
                "roles": roles, "billing_relinked": relinked}

    def _move(self, project_id: str, folder: str, parent: str | None = None) -> None:
        """Into `folder` unless already there (`parent`: where it is, if just read)."""
        if (parent if parent is not None else self._get_project(project_id).parent) == folder:
            return

        def move() -> Any:
            op = self.calls.projects.move_project(
                name=f"projects/{project_id}", destination_parent=folder, retry=None)
            return self.calls.wait(op, "projects.move", project_id)

        self.calls.call("projects.move", project_id, move)
        log.info("moved project=%s folder=%s", project_id, folder)

    def identity(self) -> str:
        """The principal this tool acts as (kept by a freeze): [gcp] service_account, else
        the credentials' service-account e-mail; ConfigError when neither tells."""
        found = self._identity_or_none()
        if found is None:
            raise ConfigError(
                "cannot tell which service account this tool runs as (these GCP credentials "
                "carry no e-mail): set [gcp] service_account, so a freeze keeps its access")
        return found

    def _identity_or_none(self) -> str | None:
        configured = self.settings.service_account.strip()
        if not configured and self.settings.endpoint:
            configured = EMULATOR_SERVICE_ACCOUNT
        if configured:
            kind, _, address = configured.rpartition(":")
            return f"{kind or 'serviceAccount'}:{address.lower()}"
        credentials = self.calls.credentials()
        email: Any = getattr(credentials, "service_account_email", None)
        if email == "default":  # GCE metadata credentials learn their e-mail on refresh
            try:
                from google.auth.transport.requests import Request

                credentials.refresh(Request())
            except Exception:  # noqa: BLE001 - then we do not know, and say so
                return None
            email = getattr(credentials, "service_account_email", None)
        if isinstance(email, str) and "@" in email:
            return f"serviceAccount:{email.lower()}"
        return None

    # ---- tags ----------------------------------------------------------------------
    def desired_tags(self, tags: dict[str, str]) -> dict[str, str]:
        return sanitize_labels(tags)

    def read_tags(self, placement: Placement) -> dict[str, str]:
        return dict(self._live_project(placement.cloud_id).labels)

    def tag(self, placement: Placement, tags: dict[str, str]) -> dict[str, str]:
        """Our keys take the desired values; labels we did not set are kept, unless GCP's
        64-label limit leaves ours no room: then theirs are dropped (returned)."""
        from google.cloud import resourcemanager_v3
        from google.protobuf import field_mask_pb2

        project_id = placement.cloud_id
        current = dict(self._live_project(project_id).labels)
        labels, dropped = fit_labels(current, self.desired_tags(tags), keep=(OWNER_LABEL,))
        if labels == current:
            return dropped

        def update() -> Any:
            op = self.calls.projects.update_project(
                project=resourcemanager_v3.Project(name=f"projects/{project_id}", labels=labels),
                update_mask=field_mask_pb2.FieldMask(paths=["labels"]), retry=None)
            return self.calls.wait(op, "projects.patch", project_id)

        self.calls.call("projects.patch", project_id, update)
        if dropped:
            log.warning("labels_dropped project=%s keys=%s", project_id, ",".join(sorted(dropped)))
        return dropped

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
        # A provision stopped before the create finished may have made nothing: Google's 403
        # then means "no such project", as while provisioning.
        made = steps.get("project_created")
        project = self._existing_project(project_id) if made else self._find_project(project_id)
        if project is None:
            log.info("destroy project=%s already gone", project_id)
            return {"project_state": "NOT_FOUND", "purge_after": None}
        if project.state.name == "ACTIVE":
            if not steps.get("members_removed"):
                self._remove_access_before_delete(project, plan, steps)
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

    def _remove_access_before_delete(self, project: Any, plan: Plan, steps: StepStore) -> None:
        """Everyone but us out, as a freeze does: whoever still holds roles/owner on a
        DELETE_REQUESTED project may undelete it within the 30 days. Without a known
        identity (see `identity`) only the members' template roles go: never lock
        ourselves out of the delete that follows."""
        project_id = project.project_id
        identity = self._identity_or_none()
        if identity is None:
            log.warning("destroy project=%s identity unknown: only members' roles removed", project_id)
            steps.progress(f"removing members' roles from {project_id}")
            principals = [principal(m.email) for m in plan.members]
            self._update_policy(project_id, lambda policy: remove_members(
                policy, principals, _template_roles(plan)))
            return
        steps.progress(f"removing every principal but {identity} from {project_id}")
        self._strip_access(project_id, project.name.rpartition("/")[2], identity, steps,
                           saved_as="removed_bindings")

    def _delete_project(self, project_id: str) -> Any:
        """The project after deletion; None if it is gone altogether."""

        def delete() -> Any:
            op = self.calls.projects.delete_project(name=f"projects/{project_id}", retry=None)
            return self.calls.wait(op, "projects.delete", project_id)

        try:
            return self.calls.call("projects.delete", project_id, delete)
        except ProviderError as exc:
            if exc.code == "PERMISSION_DENIED":
                raise self._lost_access(project_id, "projects.delete") from None
            if exc.code not in ("FAILED_PRECONDITION", "NOT_FOUND"):
                raise
            project = self._existing_project(project_id)  # deleted meanwhile by someone else?
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

    def check_guardrails(self) -> dict[str, str]:
        """Nothing cloud-wide to check: a GCP freeze holds through the project's own policy
        (every principal but ours taken out) and needs no organization or deny policy."""
        return {}

    # ---- helpers -------------------------------------------------------------------
    def _fetch_project(self, project_id: str) -> Any:
        return self.calls.call("projects.get", project_id, lambda: self.calls.projects.get_project(
            name=f"projects/{project_id}", retry=None))

    def _find_project(self, project_id: str) -> Any | None:
        """While provisioning: None when Google does not show it (it may not exist yet)."""
        try:
            return self._fetch_project(project_id)
        except ProviderError as exc:
            if exc.code in _NOT_VISIBLE:
                return None
            raise

    def _get_project(self, project_id: str) -> Any:
        """A project we made; 403 is lost access (`_lost_access`), in any state."""
        try:
            return self._fetch_project(project_id)
        except ProviderError as exc:
            if exc.code == "PERMISSION_DENIED":
                raise self._lost_access(project_id, "projects.get") from None
            raise

    def _existing_project(self, project_id: str) -> Any | None:
        """A project we made, None if Google says NOT_FOUND; 403 is lost access."""
        try:
            return self._get_project(project_id)
        except ProviderError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise

    def _live_project(self, project_id: str) -> Any:
        """A project we made that is still ACTIVE. DELETE_REQUESTED (deleted, maybe not by
        us) is gone: a NOT_FOUND ProviderError, as the cloud's gone_codes expect."""
        project = self._get_project(project_id)
        if project.state.name == "DELETE_REQUESTED":
            raise ProviderError(
                f"GCP project {project_id} is DELETE_REQUESTED: it was deleted (Google purges "
                f"it {_purge_date(project)}; gcloud projects undelete {project_id} restores it "
                "until then)", code="NOT_FOUND")
        return project

    def _read_policy(self, project_id: str) -> Any:
        try:
            return self.iam.read(project_id)
        except ProviderError as exc:
            if exc.code == "PERMISSION_DENIED":
                raise self._lost_access(project_id, "projects.getIamPolicy") from None
            raise

    def _update_policy(self, project_id: str, change: Callable[[Any], bool]) -> Any:
        try:
            return self.iam.update(project_id, change)
        except ProviderError as exc:
            if exc.code == "PERMISSION_DENIED":
                raise self._lost_access(project_id, "projects.setIamPolicy") from None
            raise

    def _lost_access(self, project_id: str, what: str) -> ProviderError:
        """403 on a project this tool made: never a deletion, a failure to act on."""
        who = self._identity_or_none() or "this tool's service account"
        member = who if who.startswith(("serviceAccount:", "user:")) else "serviceAccount:EMAIL"
        return ProviderError(
            f"GCP project {project_id} refuses {who} ({what}: PERMISSION_DENIED): its owner "
            "probably removed this tool's access, or the project was purged or moved out of "
            "the sandbox folders (Google answers all alike); an organization admin can restore "
            f"it (gcloud projects add-iam-policy-binding {project_id} --member={member} "
            "--role=roles/owner), then retry", code="PERMISSION_DENIED")

    def _billing_account_of(self, project_id: str) -> str:
        """The billing account the project is linked to, "" when none."""
        info = self.calls.call("billing.getBillingInfo", project_id, lambda: self.calls.discovery(
            "cloudbilling").projects().getBillingInfo(name=f"projects/{project_id}").execute(num_retries=0))
        return str(info.get("billingAccountName") or "")


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
