"""Alembic migrations of the chainwatch store (installed as ``chainwatch.migrations``)."""
