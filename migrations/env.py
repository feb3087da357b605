"""Alembic environment: runs migrations on the connection chainwatch hands over, or on the
URL from the settings (``CHAINWATCH_DB`` / ``chainwatch.toml``) when run as ``alembic ...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from chainwatch.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from chainwatch.config import load_settings
    from chainwatch.store.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url") or load_settings().db
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
