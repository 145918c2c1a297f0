"""sandbox.frozen_reason: why a frozen sandbox is frozen ("expiry", "budget", "admin")

A sandbox frozen for its budget stays frozen through `extend`; the reason decides that,
and `show` states it. Rows frozen before this revision get "expiry" unless their last
freeze event said budget.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sandbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frozen_reason', sa.String(length=16), nullable=True))
    sandbox = sa.table('sandbox', sa.column('id', sa.String), sa.column('state', sa.String),
                       sa.column('frozen_reason', sa.String))
    event = sa.table('event', sa.column('sandbox_id', sa.String), sa.column('action', sa.String),
                     sa.column('detail', sa.JSON), sa.column('at', sa.DateTime))
    bind = op.get_bind()
    frozen = [row.id for row in bind.execute(sa.select(sandbox.c.id).where(sandbox.c.state == 'frozen'))]
    for sandbox_id in frozen:
        last = bind.execute(sa.select(event.c.detail).where(event.c.sandbox_id == sandbox_id,
                                                             event.c.action == 'freeze')
                            .order_by(event.c.at.desc()).limit(1)).scalar()
        reason = str((last or {}).get('reason', ''))
        bind.execute(sandbox.update().where(sandbox.c.id == sandbox_id)
                     .values(frozen_reason='budget' if reason.startswith('budget') else 'expiry'))


def downgrade() -> None:
    # Not batch mode: on SQLite it rebuilds the table, which the members' and events' foreign
    # keys forbid; SQLite 3.35+ and PostgreSQL both drop a plain column in place.
    op.execute('ALTER TABLE sandbox DROP COLUMN frozen_reason')
