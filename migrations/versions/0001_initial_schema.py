"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import sandbox.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_action_at', ['action', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_actor'), ['actor'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_at'), ['at'], unique=False)
        batch_op.create_index('ix_event_sandbox_at', ['sandbox_id', 'at'], unique=False)

    op.create_table('finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('cloud_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('first_seen', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'provider', 'cloud_id')
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_kind'), ['kind'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_pending', ['delivered_at', 'next_attempt_at'], unique=False)

    op.create_table('sandbox',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('cloud_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('location', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('frozen_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delete_after', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('extension_count', sa.Integer(), nullable=False),
    sa.Column('approval_required', sa.Boolean(), nullable=False),
    sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('budget_usd', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('spend_usd', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('spend_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('desired_tags', sa.JSON(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('progress', sa.JSON(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('lease_until', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('sandbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_cloud_id'), ['cloud_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_department'), ['department'], unique=False)
        batch_op.create_index('ix_sandbox_owner_state', ['owner', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_provider'), ['provider'], unique=False)
        batch_op.create_index('ix_sandbox_state_expires', ['state', 'expires_at'], unique=False)
        batch_op.create_index('ix_sandbox_state_next_attempt', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_template'), ['template'], unique=False)

    op.create_table('cost_sample',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('amount_usd', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('recorded_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sandbox_id'], ['sandbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sandbox_id', 'day')
    )
    with op.batch_alter_table('cost_sample', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cost_sample_day'), ['day'], unique=False)

    op.create_table('credential',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('member_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ciphertext', sa.Text(), nullable=False),
    sa.Column('created_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sandbox_id'], ['sandbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sandbox_id', 'member_email', 'name')
    )
    with op.batch_alter_table('credential', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credential_sandbox_id'), ['sandbox_id'], unique=False)

    op.create_table('member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('added_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sandbox_id'], ['sandbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sandbox_id', 'email')
    )
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_sandbox_id'), ['sandbox_id'], unique=False)

    op.create_table('milestone',
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sandbox_id'], ['sandbox.id'], ),
    sa.PrimaryKeyConstraint('sandbox_id', 'key')
    )


def downgrade() -> None:
    op.drop_table('milestone')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_sandbox_id'))
        batch_op.drop_index(batch_op.f('ix_member_email'))

    op.drop_table('member')
    with op.batch_alter_table('credential', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credential_sandbox_id'))

    op.drop_table('credential')
    with op.batch_alter_table('cost_sample', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cost_sample_day'))

    op.drop_table('cost_sample')
    with op.batch_alter_table('sandbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_template'))
        batch_op.drop_index('ix_sandbox_state_expires')
        batch_op.drop_index('ix_sandbox_state_next_attempt')
        batch_op.drop_index(batch_op.f('ix_sandbox_provider'))
        batch_op.drop_index('ix_sandbox_owner_state')
        batch_op.drop_index(batch_op.f('ix_sandbox_department'))
        batch_op.drop_index(batch_op.f('ix_sandbox_cloud_id'))

    op.drop_table('sandbox')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_pending')

    op.drop_table('notification')
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_kind'))

    op.drop_table('finding')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_sandbox_at')
        batch_op.drop_index(batch_op.f('ix_event_at'))
        batch_op.drop_index(batch_op.f('ix_event_actor'))
        batch_op.drop_index('ix_event_action_at')

    op.drop_table('event')
