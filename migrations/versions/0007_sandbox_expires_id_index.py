"""sandbox (expires_at, id) index: All sandboxes sorted by expiry (issue 14)

The page's keyset order by expiry is (expires_at, id); without an index PostgreSQL read
and sorted every visible row for each page (bench/web_bench.py: 16 ms against 6 ms with
it, at 10,000 sandboxes).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_sandbox_expires_id', 'sandbox', ['expires_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sandbox_expires_id', table_name='sandbox')
