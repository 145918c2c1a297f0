"""sandbox (provider, state) index in place of (provider)

The sweeps ask for one cloud's sandboxes in a few states (budgets, tags and reconcile:
active and frozen; tags' orphan check: provisioning and failed). With only a provider
index, SQLite (which has no statistics: nothing runs ANALYZE) took it over the state
indexes and read half the table, history included: at 100,000 sandboxes the tags pass
cost twice what it did at 2,000 for the same work (bench/sweep_cost.py). With both
columns in one index the same queries read only the rows in those states. The index
serves a provider alone as well as the old one did.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_sandbox_provider_state', 'sandbox', ['provider', 'state'], unique=False)
    op.drop_index('ix_sandbox_provider', table_name='sandbox')


def downgrade() -> None:
    op.create_index('ix_sandbox_provider', 'sandbox', ['provider'], unique=False)
    op.drop_index('ix_sandbox_provider_state', table_name='sandbox')
