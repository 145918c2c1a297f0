"""sandbox.plan: the template snapshot becomes versioned (sandbox.snapshot.TemplateSnapshot)

Version 1 keeps only what is read after the request: max_ttl_seconds, max_extensions,
grace_period_seconds, thresholds (by percent) and spec. The budget lives in the
budget_usd column alone; the rest of the old copy of the template was either kept on the
row too (template, provider, approval_required, desired_tags) or never read again
(description, kind, default_ttl, max_live, path), so the downgrade writes back only the
keys revision 0002 reads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""
from decimal import Decimal

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# The columns as they are at this revision, not as sandbox.models may have them later.
sandbox = sa.table('sandbox', sa.column('id', sa.String), sa.column('plan', sa.JSON),
                   sa.column('budget_usd', sa.Numeric(14, 4, asdecimal=True)))


def upgrade() -> None:
    def versioned(plan, budget_usd):
        # The budgets sweep fell back on the snapshot's budget when the column was empty:
        # such a row keeps its budget, now in the column.
        if budget_usd is None and plan['budget_usd'] is not None:
            budget_usd = Decimal(plan['budget_usd'])
        return {
            'version': 1,
            'max_ttl_seconds': plan['max_ttl'],
            'max_extensions': plan['max_extensions'],
            'grace_period_seconds': plan['grace_period'],
            'thresholds': sorted(plan['thresholds'], key=lambda t: t['percent']),
            'spec': plan['spec'],
        }, budget_usd

    _rewrite(versioned)


def downgrade() -> None:
    def unversioned(plan, budget_usd):
        return {
            'max_ttl': plan['max_ttl_seconds'],
            'max_extensions': plan['max_extensions'],
            'grace_period': plan['grace_period_seconds'],
            'budget_usd': None if budget_usd is None else str(budget_usd),
            'thresholds': plan['thresholds'],
            'spec': plan['spec'],
        }, budget_usd

    _rewrite(unversioned)


def _rewrite(convert) -> None:
    """convert(plan, budget_usd) -> (plan, budget_usd) for every row with a snapshot."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(sandbox.c.id, sandbox.c.plan, sandbox.c.budget_usd)).all()
    changes = []
    for row in rows:
        if not row.plan:  # the column's default {}: a row written without a snapshot
            continue
        plan, budget_usd = convert(row.plan, row.budget_usd)
        changes.append({'row_id': row.id, 'new_plan': plan, 'new_budget': budget_usd})
    if changes:
        connection.execute(
            sandbox.update().where(sandbox.c.id == sa.bindparam('row_id'))
            .values(plan=sa.bindparam('new_plan'), budget_usd=sa.bindparam('new_budget')),
            changes)
