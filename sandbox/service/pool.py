"""The account pool's bookkeeping (issue 15): accounts cleaned and leased again instead of
closed, refilled by creating accounts when it runs low.

An account's cycle, each move an audit event (sandbox_id set when a sandbox is involved):

    creating ─▶ cleaning ─(cleanup_passes clean passes in a row)─▶ ready ─(lease)─▶ leased
                   ▲  └─(quarantine_after failed passes in a row)─▶ quarantined   │
                   └──────────────── destroy of the sandbox ◀──────────────────────┘
    any but leased ─(retire: closed on purpose)─▶ retired

A lease left to a sandbox recorded deleted (a provision that died before saving it, then
cancelled) is nobody's: the pool job returns it to cleaning (reclaim_leases).

The cloud does the work behind sandbox.provider.AccountPool; this module decides and
remembers. Two replicas never take one account twice: a lease is a guarded UPDATE
(state still ready), and cleaning claims a row with the same lease columns sandboxes use.
The request path never creates an account: it leases a ready one or, with none ready,
the provider creates one as it would without a pool.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any, Callable, Iterator, cast

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlmodel import col

from sandbox.config import Identity
from sandbox.errors import IllegalTransitionError, NotFoundError, ProviderError, UsageError
from sandbox.lifecycle import DELETED, record_event
from sandbox.models import POOL_STATES, Finding, Notification, PoolAccount, Sandbox
from sandbox.provider import AccountPool, Placement, Plan, StepStore, account_pool
from sandbox.service.access import require_admin
from sandbox.service.app import App

log = logging.getLogger("sandbox.pool")

STATES = POOL_STATES
CREATING, CLEANING, READY, LEASED, QUARANTINED, RETIRED = STATES
ACTOR = "pool"
FINDING = "quarantined"  # the compliance report's category for a quarantined account
LEASE_CANDIDATES = 5  # ready rows tried per lease: another replica may win the first ones


# -- which clouds have a pool ------------------------------------------------------------------

def pool_settings(app: App, provider: str) -> Any | None:
    """The cloud's pool settings when its config turns a pool on (its settings' `pool`)."""
    cloud = app.settings.clouds.get(provider)
    pool = getattr(cloud, "pool", None)
    return pool if pool is not None and getattr(pool, "enabled", False) else None


def pool_clouds(app: App) -> list[str]:
    return [name for name in app.settings.clouds if pool_settings(app, name) is not None]


def _pool(app: App, provider: str) -> AccountPool:
    found = account_pool(app.provider(provider)) if pool_settings(app, provider) else None
    if found is None:
        raise UsageError(f"{provider} has no account pool here; set [{provider}.pool] max_size")
    return found


# -- rows --------------------------------------------------------------------------------------

def pool_view(row: PoolAccount) -> dict[str, Any]:
    return {"id": row.id, "provider": row.provider, "cloud_id": row.cloud_id, "name": row.name,
            "state": row.state, "sandbox_id": row.sandbox_id, "passes": row.passes, "failures": row.failures,
            "leases": row.leases, "reason": row.reason, "ready_at": row.ready_at, "updated_at": row.updated_at}


def _event(session: Any, row: PoolAccount, action: str, at: datetime, *, actor: str, from_state: str | None,
           sandbox_id: str | None = None, **detail: Any) -> None:
    record_event(session, sandbox_id=sandbox_id, actor=actor, action=action, at=at,
                 from_state=from_state, to_state=row.state,
                 detail={"provider": row.provider, "account_id": row.cloud_id, **detail})


def _move(app: App, row_id: int, to: str, action: str, *, actor: str, expect: tuple[str, ...] | None = None,
          for_sandbox: str | None = None, detail: dict[str, Any] | None = None, **values: Any) -> PoolAccount:
    """One state change of one row with its audit event, in one transaction."""
    now = app.now()
    with app.session() as session:
        row = session.get_one(PoolAccount, row_id)
        if expect is not None and row.state not in expect:
            raise IllegalTransitionError(f"pool account {row.cloud_id or row.name} is {row.state}, "
                                         f"not {' or '.join(expect)}")
        before = row.state
        row.state, row.updated_at, row.version = to, now, row.version + 1
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        _event(session, row, action, now, actor=actor, from_state=before, sandbox_id=for_sandbox, **(detail or {}))
    log.info("event=%s account=%s from=%s to=%s", action, row.cloud_id, before, to)
    return row


def find_account(app: App, ref: str, provider: str | None = None) -> PoolAccount:
    """A pool account by cloud id (or its pool name)."""
    with app.session() as session:
        query = select(PoolAccount).where(or_(col(PoolAccount.cloud_id) == ref, col(PoolAccount.name) == ref))
        if provider:
            query = query.where(col(PoolAccount.provider) == provider)
        rows = list(session.execute(query).scalars())
    if not rows:
        raise NotFoundError(f"no pool account {ref!r}; see: sandbox admin pool list")
    return rows[0]


def list_pool(app: App, identity: Identity, state: str | None = None) -> list[dict[str, Any]]:
    with app.session() as session:
        require_admin(session, identity, "list the account pool", now=app.now())
        query = select(PoolAccount).order_by(col(PoolAccount.provider), col(PoolAccount.state), col(PoolAccount.id))
        if state:
            query = query.where(col(PoolAccount.state) == state)
        return [pool_view(row) for row in session.execute(query).scalars()]


def pool_status(app: App, identity: Identity) -> dict[str, Any]:
    """Counts per state, the oldest ready account, the quarantined ones with their reasons."""
    with app.session() as session:
        require_admin(session, identity, "see the account pool", now=app.now())
        counts = dict(session.execute(select(col(PoolAccount.state), func.count())
                                      .group_by(col(PoolAccount.state))).all())
        oldest = session.execute(select(func.min(col(PoolAccount.ready_at)))
                                 .where(col(PoolAccount.state) == READY)).scalar()
        quarantined = [{"cloud_id": row.cloud_id, "reason": row.reason} for row in session.execute(
            select(PoolAccount).where(col(PoolAccount.state) == QUARANTINED)).scalars()]
    return {"counts": {state: counts.get(state, 0) for state in STATES}, "oldest_ready_at": oldest,
            "quarantined": quarantined}


# -- lease and return (the provision and destroy paths) -----------------------------------------

def lease_account(app: App, provider: str, sandbox_id: str) -> str | None:
    """The least recently readied account of `provider`'s pool, now leased to the sandbox;
    None when none is ready. The sandbox's own earlier lease (a crash between the lease and
    saving it in the steps) is handed back again, never a second account."""
    now = app.now()
    with app.session() as session:
        mine = session.execute(select(col(PoolAccount.cloud_id)).where(
            col(PoolAccount.provider) == provider, col(PoolAccount.state) == LEASED,
            col(PoolAccount.sandbox_id) == sandbox_id)).scalar()
        if mine:
            return mine
        candidates = list(session.execute(
            select(col(PoolAccount.id)).where(col(PoolAccount.provider) == provider, col(PoolAccount.state) == READY)
            .order_by(col(PoolAccount.ready_at), col(PoolAccount.id)).limit(LEASE_CANDIDATES)).scalars())
    for row_id in candidates:
        with app.session() as session:
            taken = cast(CursorResult, session.execute(
                update(PoolAccount).where(col(PoolAccount.id) == row_id, col(PoolAccount.state) == READY)
                .values(state=LEASED, sandbox_id=sandbox_id, updated_at=now, leases=PoolAccount.leases + 1,
                        version=PoolAccount.version + 1)
                .execution_options(synchronize_session=False))).rowcount == 1
            if not taken:
                continue  # another replica leased it first
            row = session.get_one(PoolAccount, row_id)
            _event(session, row, "pool_leased", now, actor=ACTOR, from_state=READY, sandbox_id=sandbox_id)
        log.info("event=pool_leased account=%s sandbox=%s", row.cloud_id, sandbox_id)
        return row.cloud_id
    return None


def lease_for_provision(app: App, provider: str, plan: Plan, steps: StepStore) -> str | None:
    """Before a provision: when the template asks for a pooled account, the pool has one
    ready, and no account was made or asked for yet, lease it and save it as the
    provision's account (so the provider skips CreateAccount). None: create as usual."""
    if plan.spec.get("account_source") != "pool" or pool_settings(app, provider) is None:
        return None
    if steps.get("account_id") or steps.get("create_started") or steps.get("create_request_id"):
        return None
    account_id = lease_account(app, provider, plan.sandbox_id)
    if account_id is None:
        steps.progress("no pooled account ready; creating one")
        return None
    steps.put("pool_account", True)  # first: a crash before the next put finds the lease again
    steps.put("account_id", account_id)
    steps.progress(f"leased pooled account {account_id}")
    return account_id


def return_for_destroy(app: App, provider: str, placement: Placement, plan: Plan,
                       steps: StepStore) -> dict[str, Any] | None:
    """A destroy's teardown when the sandbox's account came from the pool: access revoked,
    into cleaning, not closed. None when it did not (the provider destroys as usual)."""
    if not steps.get("pool_account"):
        return None
    with app.session() as session:
        # Without the account's id (a provision that died before saving it): the lease knows it.
        mine = (col(PoolAccount.cloud_id) == placement.cloud_id if placement.cloud_id else
                and_(col(PoolAccount.state) == LEASED, col(PoolAccount.sandbox_id) == plan.sandbox_id))
        found = session.execute(select(col(PoolAccount.id), col(PoolAccount.cloud_id), col(PoolAccount.state),
                                       col(PoolAccount.sandbox_id))
                                .where(col(PoolAccount.provider) == provider, mine)).first()
    row_id = found.id if found is not None else None
    if found is not None and found.state != RETIRED and (found.state, found.sandbox_id) != (LEASED, plan.sandbox_id):
        # Returned already, by an attempt of this teardown that died before the sandbox was
        # recorded deleted: by now the account may be clean, ready, another sandbox's. Left be.
        return {"account_id": found.cloud_id, "pool": "returned already"}
    if not placement.cloud_id:
        if found is None:
            return None  # no lease either: nothing of the pool's
        placement = Placement(cast(str, found.cloud_id), placement.location)
    pool = account_pool(app.provider(provider)) if pool_settings(app, provider) else None
    if pool is None:  # the pool was turned off since the lease: closed as any account is
        if row_id is not None:
            _move(app, row_id, RETIRED, "pool_retired", actor=ACTOR, for_sandbox=plan.sandbox_id,
                  detail={"why": "the pool is off; the account is closed with its sandbox"}, sandbox_id=None)
        return None
    detail = pool.pool_release(placement, plan, steps)
    if row_id is not None:
        row = _return(app, row_id, plan.sandbox_id)
        detail = {**detail, "pool_state": row.state}
    return detail


def _return(app: App, row_id: int, sandbox_id: str) -> PoolAccount:
    with app.session() as session:
        state = session.get_one(PoolAccount, row_id).state
    if state == CLEANING:  # a resumed destroy: already returned
        with app.session() as session:
            return session.get_one(PoolAccount, row_id)
    return _move(app, row_id, CLEANING, "pool_returned", actor=ACTOR, expect=(LEASED,), for_sandbox=sandbox_id,
                 sandbox_id=None, passes=0, failures=0)


# -- the pool job's work ------------------------------------------------------------------------

def reclaim_leases(app: App, provider: str) -> list[str]:
    """Leased accounts whose sandbox is deleted (or gone), back into cleaning; returns them.
    A sandbox is recorded deleted only once its teardown returned its account, so such a
    lease is nobody's: a provision that died between its lease and saving it in the steps
    leaves one when the sandbox is then cancelled (it asked the cloud for nothing it knows
    of, so it is withdrawn with no teardown)."""
    with app.session() as session:
        orphans = list(session.execute(
            select(col(PoolAccount.id), col(PoolAccount.cloud_id), col(PoolAccount.sandbox_id))
            .outerjoin(Sandbox, col(Sandbox.id) == col(PoolAccount.sandbox_id))
            .where(col(PoolAccount.provider) == provider, col(PoolAccount.state) == LEASED,
                   or_(col(Sandbox.id).is_(None), col(Sandbox.state) == DELETED))
            .order_by(col(PoolAccount.id))).all())
    returned: list[str] = []
    for row_id, cloud_id, sandbox_id in orphans:
        _pool(app, provider).pool_move(cloud_id, CLEANING)  # the frozen SCP first
        _move(app, row_id, CLEANING, "pool_returned", actor=ACTOR, expect=(LEASED,), for_sandbox=sandbox_id,
              detail={"why": f"sandbox {sandbox_id} was deleted without returning it"}, sandbox_id=None,
              passes=0, failures=0)
        returned.append(cloud_id)
    return returned


def refill(app: App, provider: str, *, limit: int | None = None) -> list[str]:
    """Create accounts until ready + on their way (cleaning, creating) reach min_ready,
    never past max_size; an interrupted create (a row left creating) is resumed first.
    Returns the accounts made. Stops at the first refusal (the organization's account
    quota: ACCOUNT_LIMIT_EXCEEDED), which is raised once what was made is recorded."""
    settings = pool_settings(app, provider)
    if settings is None:
        return []
    with app.session() as session:
        counts = dict(session.execute(select(col(PoolAccount.state), func.count())
                                      .where(col(PoolAccount.provider) == provider)
                                      .group_by(col(PoolAccount.state))).all())
        resumable = list(session.execute(select(col(PoolAccount.id)).where(
            col(PoolAccount.provider) == provider, col(PoolAccount.state) == CREATING)
            .order_by(col(PoolAccount.id))).scalars())
    on_the_way = counts.get(READY, 0) + counts.get(CLEANING, 0) + counts.get(CREATING, 0)
    held = sum(count for state, count in counts.items() if state != RETIRED)
    wanted = min(settings.min_ready - on_the_way, settings.max_size - held)
    made: list[str] = []
    todo = resumable + [None] * max(wanted, 0)
    for row_id in todo[:limit] if limit is not None else todo:
        made.append(create_account(app, provider, row_id))
    return made


def create_account(app: App, provider: str, row_id: int | None = None) -> str:
    """A new pool account (or the one a row left `creating` was making), into cleaning."""
    now = app.now()
    if row_id is None:
        with app.session() as session:
            row = PoolAccount(provider=provider, name=f"pool-{secrets.token_hex(4)}", state=CREATING,
                              created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            _event(session, row, "pool_create_started", now, actor=ACTOR, from_state=None, name=row.name)
            row_id, name = cast(int, row.id), row.name
    else:
        with app.session() as session:
            name = session.get_one(PoolAccount, row_id).name
    try:
        account_id = _pool(app, provider).pool_create(name)
    except ProviderError as exc:
        with app.session() as session:
            row = session.get_one(PoolAccount, row_id)
            row.reason, row.updated_at = str(exc), app.now()
            session.add(row)
        raise
    _move(app, row_id, CLEANING, "pool_created", actor=ACTOR, expect=(CREATING,), cloud_id=account_id,
          reason=None)
    return account_id


def claim_for_cleaning(app: App, provider: str) -> Iterator[PoolAccount]:
    """Each cleaning account of `provider` whose lease is free, claimed one at a time (the
    lease keeps a second replica off it while it is cleaned)."""
    tried: set[int] = set()
    while True:
        now = app.now()
        owner = f"{app.worker_id}:{secrets.token_hex(4)}"
        with app.session() as session:
            query = select(col(PoolAccount.id)).where(
                col(PoolAccount.provider) == provider, col(PoolAccount.state) == CLEANING,
                or_(col(PoolAccount.lease_owner).is_(None), col(PoolAccount.lease_until) < now))
            if tried:
                query = query.where(col(PoolAccount.id).notin_(sorted(tried)))
            row_id = session.execute(query.order_by(col(PoolAccount.updated_at), col(PoolAccount.id)).limit(1)).scalar()
            if row_id is None:
                return
            tried.add(row_id)
            taken = cast(CursorResult, session.execute(
                update(PoolAccount).where(col(PoolAccount.id) == row_id, col(PoolAccount.state) == CLEANING,
                                          or_(col(PoolAccount.lease_owner).is_(None),
                                              col(PoolAccount.lease_until) < now))
                .values(lease_owner=owner, lease_until=now + app.settings.daemon.lease)
                .execution_options(synchronize_session=False))).rowcount == 1
        if not taken:
            continue
        with app.session() as session:
            claimed = session.get_one(PoolAccount, row_id)
        try:
            yield claimed  # outside any transaction: a clean takes minutes
        finally:
            with app.session() as session:
                session.execute(update(PoolAccount).where(col(PoolAccount.id) == row_id,
                                                          col(PoolAccount.lease_owner) == owner)
                                .values(lease_owner=None, lease_until=None)
                                .execution_options(synchronize_session=False))


def clean_account(app: App, row: PoolAccount, *, actor: str = ACTOR) -> PoolAccount:
    """Clean passes until cleanup_passes clean ones in a row (→ ready) or one fails; the
    quarantine_after-th failure in a row quarantines the account (admins told, a finding
    for the compliance report). Each pass is an audit event."""
    settings = pool_settings(app, row.provider)
    pool = _pool(app, row.provider)
    assert row.cloud_id and settings is not None
    while row.state == CLEANING:
        try:
            report = pool.pool_clean(row.cloud_id)
        except ProviderError as exc:  # the access role refused, say: a failed pass as well
            report = {"clean": False, "failed": {"account": str(exc)}, "left": [], "deleted": []}
        summary = {"clean": report["clean"], "deleted": len(report.get("deleted", [])),
                   "failed": dict(list(report.get("failed", {}).items())[:20]), "left": report.get("left", [])[:20]}
        now = app.now()
        with app.session() as session:
            fresh = session.get_one(PoolAccount, cast(int, row.id))
            if report["clean"]:
                fresh.passes, fresh.failures = fresh.passes + 1, 0
            else:
                fresh.passes, fresh.failures = 0, fresh.failures + 1
            fresh.last_clean, fresh.updated_at = summary, now
            session.add(fresh)
            _event(session, fresh, "pool_clean_pass", now, actor=actor, from_state=CLEANING, **summary)
            passes, failures = fresh.passes, fresh.failures
        if report["clean"] and passes >= settings.cleanup_passes:
            # The cloud first. Ready here first, a lease in between would move the account to
            # its department's OU and this move would pull it back out; killed in between,
            # a ready row's account would stay in the cleaning OU. Killed after this move,
            # the row is still cleaning: once the claim runs out, the next pass readies it.
            pool.pool_move(row.cloud_id, READY)
            row = _move(app, cast(int, row.id), READY, "pool_ready", actor=actor, expect=(CLEANING,),
                        ready_at=now, reason=None)
        elif not report["clean"] and failures >= settings.quarantine_after:
            row = quarantine(app, row, _reason(summary), actor=actor)
        elif not report["clean"]:
            with app.session() as session:
                return session.get_one(PoolAccount, cast(int, row.id))  # tried again next run
    return row


def _reason(summary: dict[str, Any]) -> str:
    named = [f"{name}: {why}" for name, why in summary["failed"].items()] + [f"left {arn}" for arn in summary["left"]]
    return "; ".join(named[:5])[:1000] or "clean pass failed"


def quarantine(app: App, row: PoolAccount, reason: str, *, actor: str) -> PoolAccount:
    """Locked down first (the quarantine OU's deny-all SCP), then recorded, the admins told
    and a finding opened, in one transaction."""
    assert row.cloud_id
    _pool(app, row.provider).pool_move(row.cloud_id, QUARANTINED)
    row = _move(app, cast(int, row.id), QUARANTINED, "pool_quarantined", actor=actor,
                expect=(CLEANING, READY, QUARANTINED), detail={"reason": reason}, reason=reason)
    now = app.now()
    with app.session() as session:
        finding = session.execute(select(Finding).where(
            col(Finding.kind) == FINDING, col(Finding.provider) == row.provider,
            col(Finding.cloud_id) == row.cloud_id)).scalar_one_or_none()
        if finding is None:
            finding = Finding(kind=FINDING, provider=row.provider, cloud_id=cast(str, row.cloud_id), first_seen=now,
                              last_seen=now, detail={})
        finding.detail, finding.last_seen, finding.resolved_at = {"reason": reason}, now, None
        session.add(finding)
        admins = sorted({user.strip().lower() for user in app.settings.admin.users})
        if admins:
            session.add(Notification(
                sandbox_id=None, kind="pool_quarantined", recipients=admins, created_at=now, next_attempt_at=now,
                subject=f"Pool account {row.cloud_id} quarantined",
                body=(f"The {row.provider} pool account {row.cloud_id} failed its clean {row.failures} times in "
                      f"a row and is quarantined.\n\n{reason}\n\nOnce it is fixed: sandbox admin pool release "
                      f"{row.cloud_id}; or close it: sandbox admin pool retire {row.cloud_id}")))
    return row


# -- admin commands -------------------------------------------------------------------------------

def _admin(app: App, identity: Identity, what: str) -> None:
    with app.session() as session:
        require_admin(session, identity, what, now=app.now())


def clean_now(app: App, identity: Identity, ref: str, *, dry_run: bool = False) -> dict[str, Any]:
    """`sandbox admin pool clean ID`: a dry run lists what a pass would delete and changes
    nothing; otherwise the account (cleaning) gets its passes now."""
    _admin(app, identity, "clean pool accounts")
    row = find_account(app, ref)
    if dry_run:
        assert row.cloud_id
        return {**pool_view(row), "dry_run": _pool(app, row.provider).pool_clean(row.cloud_id, dry_run=True)}
    if row.state != CLEANING:
        raise IllegalTransitionError(f"pool account {ref} is {row.state}; only cleaning ones are cleaned "
                                     f"(sandbox admin pool release {ref} puts a quarantined one back)")
    for claimed in claim_for_cleaning(app, row.provider):
        if claimed.id == row.id:
            return pool_view(clean_account(app, claimed, actor=identity.email))
    raise IllegalTransitionError(f"pool account {ref} is being cleaned by another process")


def register_account(app: App, identity: Identity, provider: str, cloud_id: str) -> dict[str, Any]:
    """Adopt an existing account into the pool: cleaned before its first lease."""
    _admin(app, identity, "register pool accounts")
    pool = _pool(app, provider)
    now = app.now()
    with app.session() as session:
        if session.execute(select(col(PoolAccount.id)).where(col(PoolAccount.provider) == provider,
                                                             col(PoolAccount.cloud_id) == cloud_id)).scalar():
            raise IllegalTransitionError(f"account {cloud_id} is in the pool already")
    pool.pool_move(cloud_id, CLEANING)
    with app.session() as session:
        row = PoolAccount(provider=provider, name=f"registered-{cloud_id}", cloud_id=cloud_id, state=CLEANING,
                          created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        _event(session, row, "pool_registered", now, actor=identity.email, from_state=None)
        return pool_view(row)


def quarantine_now(app: App, identity: Identity, ref: str, reason: str = "") -> dict[str, Any]:
    _admin(app, identity, "quarantine pool accounts")
    row = find_account(app, ref)
    return pool_view(quarantine(app, row, reason or f"quarantined by {identity.email}", actor=identity.email))


def release_account(app: App, identity: Identity, ref: str) -> dict[str, Any]:
    """A quarantined account back to cleaning (after someone fixed what failed)."""
    _admin(app, identity, "release pool accounts")
    row = find_account(app, ref)
    assert row.cloud_id
    _pool(app, row.provider).pool_move(row.cloud_id, CLEANING)
    row = _move(app, cast(int, row.id), CLEANING, "pool_released", actor=identity.email, expect=(QUARANTINED,),
                passes=0, failures=0)
    with app.session() as session:
        session.execute(update(Finding).where(col(Finding.kind) == FINDING, col(Finding.provider) == row.provider,
                                              col(Finding.cloud_id) == row.cloud_id)
                        .values(resolved_at=app.now()).execution_options(synchronize_session=False))
    return pool_view(row)


def retire_account(app: App, identity: Identity, ref: str) -> dict[str, Any]:
    """Close the account on purpose (never a leased one): within the cloud's close quota,
    which refuses with CloseQuotaError when spent (nothing changes here then)."""
    _admin(app, identity, "retire pool accounts")
    row = find_account(app, ref)
    if row.state in (LEASED, RETIRED, CREATING):
        raise IllegalTransitionError(f"pool account {ref} is {row.state}; it cannot be retired")
    assert row.cloud_id
    detail = _pool(app, row.provider).pool_retire(row.cloud_id)
    row = _move(app, cast(int, row.id), RETIRED, "pool_retired", actor=identity.email, detail=detail)
    return {**pool_view(row), **detail}


Progress = Callable[[str], None]
