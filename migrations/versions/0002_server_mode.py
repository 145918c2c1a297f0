"""server mode: the quota's verified subject, personal API tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import sandbox.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sandbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_subject', sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_sandbox_owner_subject'), ['owner_subject'], unique=False)
        batch_op.create_index('ix_sandbox_created_id', ['created_at', 'id'], unique=False)
    # Sandboxes from before server mode count against their owner's e-mail, as local mode does.
    op.execute("UPDATE sandbox SET owner_subject = owner WHERE owner_subject = ''")

    op.create_table('api_token',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('owner_subject', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('manages', sa.JSON(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sandbox.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sandbox.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_owner'), ['owner'], unique=False)


def downgrade() -> None:
    op.drop_table('api_token')
    with op.batch_alter_table('sandbox', schema=None) as batch_op:
        batch_op.drop_index('ix_sandbox_created_id')
        batch_op.drop_index(batch_op.f('ix_sandbox_owner_subject'))
        batch_op.drop_column('owner_subject')
