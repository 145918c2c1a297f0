"""SQLModel tables. Timestamps are stored in UTC and come back timezone-aware."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, DateTime, Index, Numeric, String, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel

if TYPE_CHECKING:
    from sandbox.snapshot import TemplateSnapshot


class UTCDateTime(TypeDecorator):
    """SQLite drops the zone; hand back aware UTC datetimes on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None or value.tzinfo is timezone.utc:  # PostgreSQL's in a UTC session: as it is
            return value
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


MONEY = Numeric(14, 4, asdecimal=True)


class Sandbox(SQLModel, table=True):
    __tablename__ = "sandbox"
    __table_args__ = (
        Index("ix_sandbox_owner_state", "owner", "state"),
        Index("ix_sandbox_state_expires", "state", "expires_at"),
        Index("ix_sandbox_state_next_attempt", "state", "next_attempt_at"),  # the queues
        Index("ix_sandbox_created_id", "created_at", "id"),  # list pages, newest first
        Index("ix_sandbox_expires_id", "expires_at", "id"),  # list pages by expiry
        # One cloud's sandboxes in a few states (the budgets, tags and reconcile sweeps):
        # with provider alone, SQLite's planner read half the table (migration 0005).
        Index("ix_sandbox_provider_state", "provider", "state"),
    )

    id: str = Field(primary_key=True, max_length=8)
    name: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    provider: str = Field(max_length=16)
    template: str = Field(max_length=64, index=True)
    owner: str = Field(max_length=254)
    owner_subject: str = Field(default="", max_length=300, index=True)  # issuer|sub: the quota's key
    department: str = Field(max_length=64, index=True)
    state: str = Field(max_length=16)
    cloud_id: str | None = Field(default=None, max_length=64, index=True)
    location: str = Field(default="", max_length=255)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    frozen_at: datetime | None = _ts()
    delete_after: datetime | None = _ts()  # end of the grace period once frozen
    frozen_reason: str | None = Field(default=None, max_length=16)  # expiry, budget, admin
    deleted_at: datetime | None = _ts()
    extension_count: int = 0
    approval_required: bool = False
    approved_by: str | None = Field(default=None, max_length=254)
    budget_usd: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    spend_usd: Decimal | None = Field(default=None, sa_column=Column(MONEY))  # None: unknown
    spend_at: datetime | None = _ts()
    desired_tags: dict = _json()
    plan: dict = _json()  # TemplateSnapshot.to_json(); read it as .snapshot
    progress: dict = _json()  # each provision / destroy step's outcome
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = _ts()
    version: int = 0

    @property
    def snapshot(self) -> TemplateSnapshot:
        """The template as it was when requested, so retries build the same."""
        from sandbox.snapshot import TemplateSnapshot  # here: reading rows (`sandbox list`) needs none

        return TemplateSnapshot.from_json(self.plan)


class Member(SQLModel, table=True):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("sandbox_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    sandbox_id: str = Field(foreign_key="sandbox.id", index=True, max_length=8)
    email: str = Field(max_length=254, index=True)
    role: str = Field(max_length=16)  # owner | member
    added_at: datetime = _ts(nullable=False)


class Credential(SQLModel, table=True):
    """Secret material, Fernet-encrypted. Never printed except to its owner."""

    __tablename__ = "credential"
    __table_args__ = (UniqueConstraint("sandbox_id", "member_email", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    sandbox_id: str = Field(foreign_key="sandbox.id", index=True, max_length=8)
    member_email: str = Field(max_length=254)
    name: str = Field(max_length=64)
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts(nullable=False)


class Event(SQLModel, table=True):
    """Append-only audit trail."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_sandbox_at", "sandbox_id", "at"),
        Index("ix_event_action_at", "action", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sandbox_id: str | None = Field(default=None, max_length=8)
    at: datetime = _ts(nullable=False, index=True)
    actor: str = Field(max_length=254, index=True)
    action: str = Field(max_length=40)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    detail: dict = _json()


class Milestone(SQLModel, table=True):
    """A thing that must happen once per sandbox (a warning, a threshold): the key is unique."""

    __tablename__ = "milestone"

    sandbox_id: str = Field(foreign_key="sandbox.id", primary_key=True, max_length=8)
    key: str = Field(primary_key=True, max_length=64)
    at: datetime = _ts(nullable=False)


class CostSample(SQLModel, table=True):
    """The spend of one sandbox on one day, as last read; only days with spend have one
    (sandbox.sweeps.budgets: no sample means nothing was spent that day)."""

    __tablename__ = "cost_sample"
    __table_args__ = (UniqueConstraint("sandbox_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    sandbox_id: str = Field(foreign_key="sandbox.id", max_length=8)
    day: date = Field(index=True)
    amount_usd: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    source: str = Field(max_length=32)
    recorded_at: datetime = _ts(nullable=False)


class Finding(SQLModel, table=True):
    """Something a sweep found for the compliance report: an orphan, tag drift, unknown spend."""

    __tablename__ = "finding"
    __table_args__ = (UniqueConstraint("kind", "provider", "cloud_id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    provider: str = Field(max_length=16)
    cloud_id: str = Field(max_length=64)
    sandbox_id: str | None = Field(default=None, max_length=8)
    detail: dict = _json()
    first_seen: datetime = _ts(nullable=False)
    last_seen: datetime = _ts(nullable=False)
    resolved_at: datetime | None = _ts()


class Notification(SQLModel, table=True):
    """Outbox: written with the lifecycle step, delivered (and retried) separately."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_pending", "delivered_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    sandbox_id: str | None = Field(default=None, max_length=8)
    kind: str = Field(max_length=32)
    recipients: list = _json(list)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts(nullable=False)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
    failed_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class ApiToken(SQLModel, table=True):
    """A personal API token. Only a SHA-256 of its secret is kept; the roles are those its
    owner had when creating it (a token never carries more than its owner had)."""

    __tablename__ = "api_token"

    id: str = Field(primary_key=True, max_length=16)
    owner: str = Field(max_length=254, index=True)
    owner_subject: str = Field(max_length=300)
    department: str = Field(max_length=64)
    is_admin: bool = False
    manages: list = _json(list)
    name: str = Field(max_length=64)
    scope: str = Field(max_length=8)  # read | write
    secret_hash: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()


# Where a pool account is in its cycle (sandbox.service.pool moves it; reports count it).
POOL_STATES = ("creating", "cleaning", "ready", "leased", "quarantined", "retired")


class PoolAccount(SQLModel, table=True):
    """One account of a cloud's account pool (sandbox.service.pool): where it is in the
    pool's cycle (creating → cleaning → ready → leased → cleaning ..., or quarantined /
    retired), the sandbox leasing it, and its clean record. Rows are claimed for work with
    the same lease columns as sandboxes, so two daemons never handle one at once."""

    __tablename__ = "pool_account"
    __table_args__ = (
        UniqueConstraint("provider", "name"),
        Index("ix_pool_account_state_ready", "provider", "state", "ready_at"),  # the next lease: oldest ready
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)
    name: str = Field(max_length=64)  # deterministic account name: a retried create finds its account
    cloud_id: str | None = Field(default=None, max_length=64, index=True)
    state: str = Field(max_length=16)
    sandbox_id: str | None = Field(default=None, max_length=8, index=True)
    passes: int = 0  # consecutive clean passes
    failures: int = 0  # consecutive failed passes
    leases: int = 0
    last_clean: dict = _json()  # the last pass's summary
    reason: str | None = Field(default=None, sa_column=Column(Text))  # why quarantined, or the last error
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    ready_at: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = _ts()
    version: int = 0
