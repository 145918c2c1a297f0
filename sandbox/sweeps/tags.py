"""Cost tags and orphans.

Per provider: one list_managed() (every account / project in the managed OUs / folders,
with its tags), then
  - drift: each live sandbox's tags against provider.desired_tags(sandbox.desired_tags);
    missing or changed keys are set again (keys someone added are left alone), with a
    "tags_repaired" event {before, after} and a "drift" finding resolved on the spot;
  - orphans: listed resources no sandbox row owns become "orphan" findings (never
    deleted: an admin decides); orphans no longer listed, or since adopted, are resolved.
  - guardrails: provider.check_guardrails() (AWS: the service control policies), each
    problem a "guardrail" finding, resolved once it is fixed (sandbox admin bootstrap).
Tags come from the listing (it already read them); a live sandbox outside the managed
locations falls back to read_tags. When the cloud's label limit leaves our keys no room,
the provider drops the user's extra labels; the event lists them under "dropped".
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlmodel import col

from sandbox.errors import ProviderError
from sandbox.lifecycle import ACTIVE, FAILED, FROZEN, PROVISIONING, record_event
from sandbox.models import Sandbox
from sandbox.provider import ManagedResource, cloud_named
from sandbox.service.app import App
from sandbox.sweeps.base import SweepResult, sweep
from sandbox.sweeps.common import (ACTOR, Stop, chunks, each_due, fail_provider, placement_of, providers_with,
                                   resolve_findings, upsert_finding)

log = logging.getLogger("sandbox.sweeps.tags")

JOB = "tags"
LIVE = (ACTIVE, FROZEN)
IN_FLIGHT = (PROVISIONING, FAILED)  # may own a cloud resource their cloud_id does not show yet


@sweep(JOB)
def check_tags(app: App, result: SweepResult, now: datetime, stop: Stop | None) -> None:
    for provider_name in providers_with(app):
        try:
            managed = app.provider(provider_name).list_managed()
        except Exception as exc:  # noqa: BLE001 - the other provider still gets checked
            fail_provider(result, provider_name, "list_managed", exc)
            continue
        result.cloud_requests += 1
        _check_guardrails(app, result, provider_name, now)
        listed = {resource.cloud_id: resource for resource in managed}
        each_due(app, result, [col(Sandbox.provider) == provider_name, col(Sandbox.state).in_(LIVE),
                               col(Sandbox.cloud_id).is_not(None)],
                 lambda lease: _check_one(app, result, provider_name, lease.sandbox_id, listed, now), stop=stop)
        _record_orphans(app, provider_name, managed, now)


def _check_one(app: App, result: SweepResult, provider_name: str, sandbox_id: str,
               listed: dict[str, ManagedResource], now: datetime) -> None:
    provider = app.provider(provider_name)
    with app.session() as session:
        sandbox = session.get_one(Sandbox, sandbox_id)
    placement = placement_of(sandbox)
    if placement.cloud_id in listed:
        current = dict(listed[placement.cloud_id].tags)
    else:
        try:
            current = provider.read_tags(placement)
        except ProviderError as exc:
            if exc.retryable or exc.code not in cloud_named(provider_name).gone_codes:
                raise
            log.info("tags_skipped sandbox=%s reason=gone code=%s", sandbox_id, exc.code)
            return  # the cloud lost it: reconcile ends the sandbox, nothing to tag
        finally:
            result.cloud_requests += 1
    desired = provider.desired_tags(sandbox.desired_tags)
    drifted = sorted(key for key, value in desired.items() if current.get(key) != value)
    if not drifted:
        return
    before = {key: current.get(key) for key in drifted}
    after = {key: desired[key] for key in drifted}
    detail = {"sandbox_id": sandbox_id, "keys": drifted, "before": before, "after": after}
    try:
        dropped = provider.tag(placement, sandbox.desired_tags)
        result.cloud_requests += 1
    except Exception:
        upsert_finding(app, kind="drift", provider=provider_name, cloud_id=placement.cloud_id,
                       sandbox_id=sandbox_id, now=now, detail=detail)
        raise
    if dropped:  # the cloud's limit left ours no room: the user's own labels gave way
        detail["dropped"] = dropped
    with app.session() as session:
        record_event(session, sandbox_id=sandbox_id, actor=ACTOR, action="tags_repaired", at=now,
                     detail={"before": before, "after": after, **({"dropped": dropped} if dropped else {})})
    upsert_finding(app, kind="drift", provider=provider_name, cloud_id=placement.cloud_id,
                   sandbox_id=sandbox_id, now=now, detail=detail, resolved=True)
    log.info("tags_repaired sandbox=%s cloud_id=%s keys=%s", sandbox_id, placement.cloud_id, ",".join(drifted))


def _check_guardrails(app: App, result: SweepResult, provider_name: str, now: datetime) -> None:
    """A "guardrail" finding for each control the cloud lacks (an SCP missing or edited)."""
    try:
        problems = app.provider(provider_name).check_guardrails()
    except Exception as exc:  # noqa: BLE001 - tags and orphans are still checked
        fail_provider(result, provider_name, "check_guardrails", exc)
        return
    for where, problem in problems.items():
        upsert_finding(app, kind="guardrail", provider=provider_name, cloud_id=where, now=now,
                       detail={"problem": problem})
    resolve_findings(app, kind="guardrail", provider=provider_name, now=now, still_open=list(problems))
    if problems:
        log.warning("guardrails_missing provider=%s problems=%s", provider_name, problems)


def _record_orphans(app: App, provider_name: str, managed: list[ManagedResource], now: datetime) -> None:
    cloud = cloud_named(provider_name)
    owned_ids: set[str] = set()
    ids = sorted({resource.cloud_id for resource in managed})
    by_name: dict[str, list[str]] = {}
    for resource in managed:
        by_name.setdefault(resource.name, []).append(resource.cloud_id)
    with app.session() as session:
        for part in chunks(ids):
            # By cloud_id alone, the provider compared here: given `provider = ?` as well,
            # SQLite's planner (no statistics) chose the provider index over the cloud_id one
            # and read every sandbox of the cloud ever made (bench/sweep_cost.py).
            owned_ids.update(cloud_id for cloud_id, provider in session.execute(
                select(col(Sandbox.cloud_id), col(Sandbox.provider)).where(col(Sandbox.cloud_id).in_(part)))
                if provider == provider_name)
        # Half-provisioned sandboxes: the step store knows the id before cloud_id is set, and
        # an AWS account created just before a crash carries the sandbox's name.
        for name, progress in session.execute(select(col(Sandbox.name), col(Sandbox.progress)).where(
                col(Sandbox.provider) == provider_name, col(Sandbox.state).in_(IN_FLIGHT))):
            cloud_id = cloud.cloud_id_from(progress)
            if cloud_id:
                owned_ids.add(cloud_id)
            owned_ids.update(by_name.get(name, ()))
    orphans = [resource for resource in managed if resource.cloud_id not in owned_ids]
    for resource in orphans:
        upsert_finding(app, kind="orphan", provider=provider_name, cloud_id=resource.cloud_id, now=now,
                       detail={"name": resource.name, "location": resource.location, "state": resource.state})
    resolved = resolve_findings(app, kind="orphan", provider=provider_name, now=now,
                                still_open=[r.cloud_id for r in orphans])
    if orphans or resolved:
        log.info("orphans provider=%s open=%d resolved=%d", provider_name, len(orphans), resolved)
