"""Migration 0009: the unique connection key covers live peers only; bigint ids on PostgreSQL.

Both directions on both backends, with events stored before: every row is carried as it was
(ids too), and the uniqueness each revision promises holds (and only that one).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from chainwatch.store.db import current_revision, head_revision, make_engine, open_store
from chainwatch.store.writes import EVENT_COLUMNS, insert_events
from tests.store.test_migrations import _downgrade

T = dt.datetime(2019, 5, 6, 13, 0, 1, 250_000, tzinfo=dt.UTC)


def _event(key: str | None, *, live: bool, source: str = "flows.csv", n: int = 0) -> dict[str, Any]:
    return {
        "observed_at": T + dt.timedelta(seconds=n),
        "last_seen_at": T + dt.timedelta(minutes=5) if live else None,
        "recorded_at": T,
        "watchlist": "kp",
        "matched_cidr": "175.45.176.0/22",
        "local_ip": "175.45.176.5",
        "local_port": 40000 + n,
        "remote_ip": "198.51.100.7",
        "remote_port": 8333,
        "proto": "tcp",
        "direction": "outbound",
        "category": "btc-p2p",
        "coin": "btc",
        "detector": "node-peer" if live else "port",
        "confidence": 0.5,
        "source": source,
        "source_ref": f"{source}:{n + 2}",
        "input_id": None,
        "scan_id": None,
        "bytes": 100 + n,
        "packets": 1,
        "detail": {"n": n},
        "evidence_sha256": f"{n:064x}",
        "connection_key": key,
    }


STORED = [
    _event("tcp|175.45.176.5|40000|198.51.100.7|8333|25935680", live=False, n=0),
    _event("zeek:CHhAvVGS1DHFjwGM9", live=False, n=1),
    _event(None, live=False, n=2),
    _event("198.51.100.7:8333|in", live=True, source="btc-node", n=3),
]


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            f"SELECT id, {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id"
        ).all()
    return [tuple(str(v) for v in row) for row in rows]


def _insert_twice(engine: Engine, event: dict[str, Any]) -> bool:
    """Whether a second event with the same source and connection key is refused."""
    try:
        with engine.begin() as connection:
            insert_events(connection, [event, {**event, "evidence_sha256": "f" * 64}])
    except (IntegrityError, psycopg.IntegrityError):  # COPY on PostgreSQL: the driver's own
        return True
    return False


def _id_types(engine: Engine) -> set[str]:
    columns = inspect(engine).get_columns("events")
    return {str(c["type"]) for c in columns if c["name"] in ("input_id", "scan_id")}


def test_0009_both_directions_carry_events_and_uniqueness(db_url: str) -> None:
    engine = make_engine(db_url)
    pg = engine.dialect.name == "postgresql"
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "0008")
        assert current_revision(engine) == "0008"
        assert _id_types(engine) == {"INTEGER"}
        with engine.begin() as connection:
            insert_events(connection, STORED)
        before = _rows(engine)
        assert len(before) == len(STORED)

        open_store(db_url).close()  # 0008 -> head
        assert current_revision(engine) == head_revision()
        assert _rows(engine) == before
        indexes = {i["name"]: i for i in inspect(engine).get_indexes("events")}
        assert indexes["uq_events_live_connection"]["unique"]
        assert indexes["uq_events_live_connection"]["column_names"] == ["source", "connection_key"]
        assert not inspect(engine).get_unique_constraints("events")
        assert _id_types(engine) == ({"BIGINT"} if pg else {"INTEGER"})
        # Flow events may share a key (pairing decides); live peers may not.
        assert not _insert_twice(engine, _event("k", live=False, n=10))
        assert _insert_twice(engine, _event("k", live=True, source="btc-node", n=11))
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM events WHERE connection_key = 'k'"))

        with engine.begin() as connection:
            _downgrade(connection, db_url, "0008")
        assert current_revision(engine) == "0008"
        assert _rows(engine) == before
        assert "uq_events_live_connection" not in {
            i["name"] for i in inspect(engine).get_indexes("events")
        }
        assert _id_types(engine) == {"INTEGER"}
        assert _insert_twice(engine, _event("k", live=False, n=12))
    finally:
        engine.dispose()


def test_0009_downgrade_refuses_flow_events_sharing_a_key(db_url: str) -> None:
    """Two flow events of one source with one key (possible after 0009, never made by
    chainwatch): the downgrade fails instead of dropping either."""
    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            insert_events(connection, [_event("k", live=False, n=n) for n in (0, 1)])
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _downgrade(connection, db_url, "0008")
        assert current_revision(engine) == head_revision()
        assert len(_rows(engine)) == 2
    finally:
        engine.dispose()
