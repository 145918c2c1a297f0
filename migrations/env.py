"""Alembic environment: runs on the connection sandbox.db.upgrade hands over."""

from alembic import context

import sandbox.models  # noqa: F401  (registers the tables)
from sqlmodel import SQLModel

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    connection = create_engine(config.get_main_option("sqlalchemy.url")).connect()

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
