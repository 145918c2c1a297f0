"""pool_account: the AWS account pool's accounts (issue 15)

One row per pooled account: its state (creating, cleaning, ready, leased, quarantined,
retired), the sandbox leasing it, its consecutive clean passes and failures, and a
lease for the daemon replica working on it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa
import sandbox.models


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pool_account',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('cloud_id', sa.String(length=64), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('sandbox_id', sa.String(length=8), nullable=True),
        sa.Column('passes', sa.Integer(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('leases', sa.Integer(), nullable=False),
        sa.Column('last_clean', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ready_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('lease_owner', sa.String(length=80), nullable=True),
        sa.Column('lease_until', sandbox.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'name'),
    )
    op.create_index('ix_pool_account_cloud_id', 'pool_account', ['cloud_id'], unique=False)
    op.create_index('ix_pool_account_sandbox_id', 'pool_account', ['sandbox_id'], unique=False)
    op.create_index('ix_pool_account_state_ready', 'pool_account', ['provider', 'state', 'ready_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_pool_account_state_ready', table_name='pool_account')
    op.drop_index('ix_pool_account_sandbox_id', table_name='pool_account')
    op.drop_index('ix_pool_account_cloud_id', table_name='pool_account')
    op.drop_table('pool_account')
