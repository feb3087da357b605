"""Migrations: empty -> head on both backends, models agree with migrations, linear chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from chainwatch.store.db import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    open_store,
)
from chainwatch.store.models import Base


def test_empty_to_head_creates_every_table(db_url: str) -> None:
    store = open_store(db_url)
    try:
        assert current_revision(store.engine) == head_revision()
        tables = set(inspect(store.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        store.close()


def test_models_and_migrations_agree(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        store.close()


def test_revision_chain_is_linear() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1, "more than one head: the migration chain has branched"
    assert len(scripts.get_bases()) == 1
    revisions = list(scripts.walk_revisions())
    for revision in revisions:
        assert not revision.is_merge_point, f"{revision.revision} is a merge"
        assert not isinstance(revision.down_revision, tuple)


def test_open_is_idempotent_and_sqlite_uses_wal(db_url: str) -> None:
    open_store(db_url).close()
    store = open_store(db_url)  # second open: already at head, nothing to do
    try:
        with store.engine.connect() as connection:
            if store.dialect == "sqlite":
                assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        store.close()


def _downgrade(connection: Any, db_url: str, revision: str) -> None:
    from alembic import command

    config = alembic_config(db_url)
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def test_downgrade_to_base_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "base")
        assert current_revision(engine) is None
        assert "events" not in inspect(engine).get_table_names()
        open_store(db_url).close()
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_0003_folds_existing_hourly_addresses_into_days(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "0002")
            # Two hours of one UTC day (one just before midnight) and one of the next day.
            for hour, ip in (
                ("2019-05-01 00:00:00", "175.45.176.5"),
                ("2019-05-01 23:00:00", "175.45.176.5"),
                ("2019-05-02 00:00:00", "175.45.176.6"),
            ):
                connection.execute(
                    text(
                        "INSERT INTO rollup_addresses (hour, watchlist, category, local_ip)"
                        " VALUES (:hour, 'kp', 'xmr-pool', :ip)"
                    ),
                    {"hour": dt.datetime.fromisoformat(hour).replace(tzinfo=dt.UTC), "ip": ip}
                    if engine.dialect.name == "postgresql"
                    else {"hour": hour + ".000000", "ip": ip},
                )
        open_store(db_url).close()  # migrates to head
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT day, local_ip FROM rollup_day_addresses ORDER BY day, local_ip")
            ).all()
        assert [(str(day), ip) for day, ip in rows] == [
            ("2019-05-01", "175.45.176.5"),
            ("2019-05-02", "175.45.176.6"),
        ]
    finally:
        engine.dispose()
