"""Migration 0010: events' input_id and scan_id lose their foreign keys, both directions, on
both backends, with stored events carried as they were (ids too)."""

from __future__ import annotations

import psycopg
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from chainwatch.store.db import current_revision, head_revision, make_engine, open_store
from chainwatch.store.writes import insert_events
from tests.store.test_migration_0009 import STORED, _rows
from tests.store.test_migrations import _downgrade


def _keys(engine: Engine) -> set[tuple[str, str]]:
    """The events table's foreign keys, as (column, referred table)."""
    return {
        (key["constrained_columns"][0], key["referred_table"])
        for key in inspect(engine).get_foreign_keys("events")
    }


def _orphan_refused(engine: Engine) -> bool:
    """Whether an event naming an input that does not exist is refused."""
    try:
        with engine.begin() as connection:
            insert_events(connection, [{**STORED[0], "input_id": 999999}])
    except (IntegrityError, psycopg.IntegrityError):  # COPY on PostgreSQL: the driver's own
        return True
    return False


def test_0010_both_directions_carry_events_and_keys(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "0009")
        assert current_revision(engine) == "0009"
        assert _keys(engine) == {("input_id", "inputs"), ("scan_id", "scans")}
        with engine.begin() as connection:
            insert_events(connection, STORED)
        before = _rows(engine)

        open_store(db_url).close()  # 0009 -> head
        assert current_revision(engine) == head_revision()
        assert _keys(engine) == set()
        assert _rows(engine) == before
        assert "ix_events_input_id" in {i["name"] for i in inspect(engine).get_indexes("events")}
        assert not _orphan_refused(engine)  # nothing checks the keys at head
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM events WHERE input_id = 999999"))

        with engine.begin() as connection:
            _downgrade(connection, db_url, "0009")
        assert _keys(engine) == {("input_id", "inputs"), ("scan_id", "scans")}
        assert _rows(engine) == before
        assert _orphan_refused(engine)
    finally:
        engine.dispose()
