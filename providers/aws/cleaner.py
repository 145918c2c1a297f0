"""The in-account cleaner: deletes what a sandbox's users made in a member account, so the
account can be leased again instead of closed (CloseAccount is limited to 10% of the
organization's accounts per 30 days).

One pass walks KINDS in dependency order (what holds others first: stacks, Auto Scaling
groups, load balancers and instances before the networks they sit in; IAM last), in every
given region, turning deletion protection off before each delete. A failure is named and
the pass goes on: what depended on the failed resource fails too, and the next pass
retries it. After the deletes, what is left is listed twice over: by every kind's own
service API, and by the Resource Groups Tagging API in each region, which also sees types
the cleaner does not know. Anything left fails the pass.

A dry run lists and deletes nothing. The cleaner works on the member account's own
credentials (the access role, as IAM grants do), never on the management account's.

Kinds live in cleaner_compute.py (EC2, Auto Scaling, ELB), cleaner_network.py (VPC
endpoints, peering connections, network ACLs), cleaner_services.py (the other regional
services and S3) and cleaner_iam.py; each is data (a name, a lister and a
deleter), in the style of Cloud Custodian's resource registry.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.errors import ProviderError
from sandbox.providers.aws.calls import AwsClients, aws_errors, error_code, redact_botocore_logs
from sandbox.providers.aws.settings import DEFAULT_PROTECTED_ROLES as _DEFAULT_ROLES

log = logging.getLogger("sandbox.aws.cleaner")

# Roles a clean keeps (globs): AWS's and the organization's own ways into the account.
DEFAULT_PROTECTED_ROLES = tuple(_DEFAULT_ROLES)

# Codes that mean "already gone": a delete that meets one has nothing left to do.
GONE_CODES = frozenset({
    "NoSuchEntity", "NoSuchBucket", "NotFoundException", "ResourceNotFoundException",
    "ResourceNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault",
    "DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault",
    "RepositoryNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
    "InvalidInstanceID.NotFound", "InvalidVolume.NotFound", "InvalidSnapshot.NotFound",
    "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidAllocationID.NotFound",
    "InvalidNetworkInterfaceID.NotFound", "NatGatewayNotFound", "InvalidInternetGatewayID.NotFound",
    "InvalidRouteTableID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound",
    "InvalidVpcID.NotFound", "InvalidLaunchTemplateId.NotFound", "LoadBalancerNotFound",
    "TargetGroupNotFound", "ValidationError.NotFound", "InvalidVpcEndpointId.NotFound",
    "InvalidVpcPeeringConnectionID.NotFound", "InvalidVpcPeeringConnectionId.NotFound",  # AWS's, moto's
    "InvalidNetworkAclID.NotFound",
})

Clients = Callable[[str, str], Any]  # (service, region) -> a boto3 client in the member account


@dataclass(frozen=True)
class Resource:
    """One thing in the account: `kind` is its ARN's type ("ec2:instance"), `key` what its
    delete call takes, `arn` how reports name it."""

    kind: str
    region: str
    key: str
    arn: str
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        return self.arn


@dataclass(frozen=True)
class Kind:
    """A resource type the cleaner deletes.

    lister(ctx, region) yields what exists (not what is already deleted: a terminated
    instance, a deleted NAT gateway, a KMS key pending deletion); delete(ctx, resource)
    turns protection off and deletes; prepare(ctx, region, resources) runs once before a
    region's deletes (breaking security group cycles). wait: poll list after the deletes
    until the deleted ones are gone, for types AWS deletes asynchronously that later
    kinds depend on. global_: one listing for the account, not one per region.
    """

    name: str
    lister: Callable[["Context", str], Iterable[Resource]]
    delete: Callable[["Context", Resource], None]
    prepare: Callable[["Context", str, list[Resource]], None] | None = None
    wait: bool = False
    global_: bool = False


def arn_type(arn: str) -> str:
    """The resource type in an ARN, as Kind.name spells it: arn:aws:ec2:r:a:instance/i-1 →
    "ec2:instance"; one with no type segment (an SNS topic, an SQS queue, an S3 bucket) →
    its service."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn
    service, resource = parts[2], parts[5]
    head = re.split(r"[/:]", resource, maxsplit=1)[0]
    return service if head == resource else f"{service}:{head}"


class Context:
    """What kinds need: member-account clients per (service, region) and the rules of keeping."""

    def __init__(self, clients: Clients, account_id: str, home_region: str,
                 protected_roles: Iterable[str], protected_users: Iterable[str] = (),
                 poll_seconds: float = 5.0, wait_seconds: float = 900.0):
        self._clients = clients
        self.account_id = account_id
        self.home_region = home_region
        self.protected_roles = tuple(protected_roles)
        self.protected_users = tuple(protected_users)
        self.poll_seconds = poll_seconds
        self.wait_seconds = wait_seconds

    def client(self, service: str, region: str | None = None) -> Any:
        return self._clients(service, region or self.home_region)

    def arn(self, service: str, region: str, resource: str, account: bool = True) -> str:
        return f"arn:aws:{service}:{region}:{self.account_id if account else ''}:{resource}"


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item under `key` across the operation's pages."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def matches(name: str, globs: Iterable[str]) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(name, glob) for glob in globs)


@dataclass
class CleanReport:
    """One pass over one account: what was (or, in a dry run, would be) deleted, what
    failed and why, and what was found left afterwards (by ARN)."""

    account_id: str
    regions: list[str]
    dry_run: bool = False
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # ARN (or kind/region) -> one line
    left: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.failed and not self.left

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        text = f"account {self.account_id}: {verb} {len(self.deleted)}"
        if self.failed:
            text += f", {len(self.failed)} failed ({', '.join(sorted(self.failed)[:5])})"
        if self.left:
            text += f", {len(self.left)} left ({', '.join(self.left[:5])})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "regions": self.regions, "dry_run": self.dry_run,
                "deleted": self.deleted, "failed": self.failed, "left": self.left,
                "clean": self.clean, "seconds": round(self.seconds, 3)}


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "") or ""
        return " ".join(f"{error_code(exc)}: {message}".split())[:300]
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


FAILURES = (ClientError, BotoCoreError, ProviderError)


class Cleaner:
    """Deletes every resource of the known kinds in one account, but the protected ones."""

    def __init__(self, ctx: Context, regions: Iterable[str], kinds: list[Kind] | None = None):
        self.ctx = ctx
        self.regions = list(dict.fromkeys(regions)) or [ctx.home_region]
        self.kinds = kinds if kinds is not None else all_kinds()

    def clean(self, dry_run: bool = False) -> CleanReport:
        started = time.monotonic()
        report = CleanReport(self.ctx.account_id, self.regions, dry_run)
        found = self._inventory(report)
        if dry_run:
            report.deleted = [r.arn for r in found]
        else:
            self._delete(found, report)
            found = self._inventory(report)  # what the service APIs still show
        report.left = self._left(found, report)
        report.seconds = time.monotonic() - started
        log.info("event=clean_pass account=%s dry_run=%s deleted=%d failed=%d left=%d seconds=%.1f",
                 self.ctx.account_id, dry_run, len(report.deleted), len(report.failed),
                 len(report.left), report.seconds)
        return report

    def _scopes(self, kind: Kind) -> list[str]:
        return [self.ctx.home_region] if kind.global_ else self.regions

    def _list(self, kind: Kind, region: str, report: CleanReport) -> list[Resource]:
        try:
            return list(kind.lister(self.ctx, region))
        except FAILURES as exc:
            report.failed[f"{kind.name} in {region}"] = f"listing failed: {_one_line(exc)}"
            return []

    def _inventory(self, report: CleanReport) -> list[Resource]:
        return [r for kind in self.kinds for region in self._scopes(kind)
                for r in self._list(kind, region, report)]

    def _delete(self, found: list[Resource], report: CleanReport) -> None:
        by_scope: dict[tuple[str, str], list[Resource]] = {}
        for resource in found:
            by_scope.setdefault((resource.kind, resource.region), []).append(resource)
        for kind in self.kinds:
            for region in self._scopes(kind):
                batch = by_scope.get((kind.name, region), [])
                if not batch:
                    continue
                if kind.prepare is not None:
                    try:
                        kind.prepare(self.ctx, region, batch)
                    except FAILURES as exc:
                        report.failed[f"{kind.name} in {region}"] = f"preparing failed: {_one_line(exc)}"
                deleted = []
                for resource in batch:
                    try:
                        kind.delete(self.ctx, resource)
                    except FAILURES as exc:
                        code = getattr(exc, "code", "") or error_code(exc)
                        if code not in GONE_CODES:
                            report.failed[resource.arn] = _one_line(exc)
                            log.warning("event=clean_delete_failed account=%s resource=%s code=%s",
                                        self.ctx.account_id, resource.arn, code)
                            continue
                    deleted.append(resource)
                    report.deleted.append(resource.arn)
                if kind.wait and deleted:
                    self._wait_gone(kind, region, deleted, report)

    def _wait_gone(self, kind: Kind, region: str, deleted: list[Resource], report: CleanReport) -> None:
        """Later kinds depend on these being gone (a subnet on its instances): poll."""
        wanted = {r.arn for r in deleted}
        deadline = time.monotonic() + self.ctx.wait_seconds
        while True:
            remaining = wanted & {r.arn for r in self._list(kind, region, report)}
            if not remaining:
                return
            if time.monotonic() + self.ctx.poll_seconds > deadline:
                log.warning("event=clean_wait_timeout account=%s kind=%s region=%s remaining=%d",
                            self.ctx.account_id, kind.name, region, len(remaining))
                return  # the inventory after the pass names them
            time.sleep(self.ctx.poll_seconds)

    def _left(self, found: list[Resource], report: CleanReport) -> list[str]:
        """What the service APIs still list, plus what the tagging API lists of types no kind
        covers. A tagging hit of a covered type the service API no longer lists is not
        counted: the tagging API lags deletions (minutes in AWS), the service API does not.

        Why both: the tagging API only lists resources that carry (or once carried) a tag,
        in AWS as in moto, and moto 5's implements it for only some services (not IAM, not
        ECR), so the service APIs are the inventory and the tagging API is the safety net
        for what the cleaner does not know.
        """
        left = [] if report.dry_run else [r.arn for r in found]
        covered = {kind.name for kind in self.kinds}
        known = {r.arn for r in found}
        for region in self.regions:
            try:
                for arn in tagged_arns(self.ctx, region):
                    if arn in known or arn in left:
                        continue
                    if arn_type(arn) in covered or _benign(self.ctx, arn, region):
                        continue
                    left.append(arn)
            except FAILURES as exc:
                report.failed[f"tagging in {region}"] = f"listing failed: {_one_line(exc)}"
        return left


def tagged_arns(ctx: Context, region: str) -> Iterator[str]:
    client = ctx.client("resourcegroupstaggingapi", region)
    for item in pages(client, "get_resources", "ResourceTagMappingList"):
        yield item["ResourceARN"]


def _benign(ctx: Context, arn: str, region: str) -> bool:
    """Left on purpose though the tagging API lists it."""
    return arn_type(arn) == "iam:role" and matches(arn.rsplit("/", 1)[-1], ctx.protected_roles)


def all_kinds() -> list[Kind]:
    """Every kind, in the order a pass deletes them."""
    from sandbox.providers.aws import cleaner_compute as compute, cleaner_iam as iam, cleaner_network as network
    from sandbox.providers.aws import cleaner_services as services

    return [*services.FIRST, *compute.KINDS, *services.KINDS, *network.KINDS, *compute.NETWORK, *iam.KINDS]


# -- member-account credentials -------------------------------------------------------------

class MemberClients:
    """boto3 clients in one member account, any service and region, through the access role
    (re-assumed before the credentials expire: a clean of a big account outlasts them)."""

    def __init__(self, clients: AwsClients, account_id: str, session_name: str = "sandbox-cloud-cleaner"):
        redact_botocore_logs()
        self.management = clients
        self.settings = clients.settings
        self.account_id = account_id
        self.session_name = session_name
        self._credentials: dict[str, Any] | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        with self._lock:
            if self._credentials is None or _expires_within(self._credentials, 600):
                self._assume()
            key = (service, region)
            if key not in self._clients:
                assert self._credentials is not None
                kwargs: dict[str, Any] = {"region_name": region, "config": Config(
                    retries={"max_attempts": self.settings.max_attempts, "mode": "standard"})}
                if self.settings.endpoint_url:
                    kwargs["endpoint_url"] = self.settings.endpoint_url
                credentials = self._credentials
                with aws_errors(f"{service} client setup", f"account {self.account_id}"), _SESSION_LOCK:
                    self._clients[key] = _shared_session().client(
                        service, aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"], **kwargs)
            return self._clients[key]

    def _assume(self) -> None:
        role_arn = f"arn:aws:iam::{self.account_id}:role/{self.settings.access_role}"
        with aws_errors("AssumeRole", f"account {self.account_id}"):
            credentials = self.management.get("sts").assume_role(
                RoleArn=role_arn, RoleSessionName=self.session_name)["Credentials"]
        self._credentials = credentials
        self._clients.clear()


# One boto3 session for every member account's clients, each client given its account's
# credentials: a session loads each service's model once, and a session per account
# loaded them again on every clean pass (18 clients, about 1.2 s of a pass).
_SESSION: boto3.Session | None = None
_SESSION_LOCK = threading.Lock()  # a boto3 session is not safe to make clients from in threads


def _shared_session() -> boto3.Session:
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.Session()
    return _SESSION


def _expires_within(credentials: dict[str, Any], seconds: float) -> bool:
    expiration = credentials.get("Expiration")
    if expiration is None or not hasattr(expiration, "timestamp"):
        return False
    return expiration.timestamp() - time.time() < seconds


def account_cleaner(clients: AwsClients, account_id: str, regions: Iterable[str],
                    protected_roles: Iterable[str], protected_users: Iterable[str] = (),
                    poll_seconds: float = 5.0, wait_seconds: float = 900.0) -> Cleaner:
    """A Cleaner for `account_id`, on its access role; the access role itself is always kept."""
    settings = clients.settings
    regions = list(regions) or list(settings.allowed_regions) or [settings.region]
    keep = list(dict.fromkeys([settings.access_role, *protected_roles]))
    ctx = Context(MemberClients(clients, account_id), account_id, regions[0], keep,
                  protected_users, poll_seconds=poll_seconds, wait_seconds=wait_seconds)
    return Cleaner(ctx, regions)
