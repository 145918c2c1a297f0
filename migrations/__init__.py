"""Alembic migrations, shipped as package data (sandbox.migrations); see sandbox/db.py."""
