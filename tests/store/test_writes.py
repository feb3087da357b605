"""EventWriter: events from Arrow stored exactly as ``insert_events`` stores them, in one
transaction, in the order added, however often the transaction flushes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import insert

from chainwatch.store import event_copy, scratch, writes
from chainwatch.store.db import Store, open_store
from chainwatch.store.models import Input, Scan
from chainwatch.store.writes import EVENT_COLUMNS, FIXED_EVENT_COLUMNS, EventWriter, insert_events

T = dt.datetime(2019, 5, 6, 13, 0, 1, 250_001, tzinfo=dt.UTC)


@pytest.fixture
def twin_url(db_url: str, tmp_path: Path, pg_databases: Any) -> str:
    """A second fresh database on the same backend, for today's path to write into."""
    return (
        f"sqlite:///{tmp_path / 'twin.db'}" if db_url.startswith("sqlite") else pg_databases.new()
    )


def _events(n: int, start: int = 0) -> pa.Table:
    """Events as the match stage types them, with NULLs, quotes and non-ASCII text."""
    k = range(start, start + n)
    return pa.table(
        {
            "observed_at": pa.array(
                [T + dt.timedelta(seconds=i, microseconds=i) for i in k],
                pa.timestamp("us", tz="UTC"),
            ),
            "watchlist": pa.array(["kp", "ir"] * (n // 2) + ["kp"] * (n % 2)).dictionary_encode(),
            "matched_cidr": ["175.45.176.0/22"] * n,
            "local_ip": [f"175.45.176.{i % 250}" for i in k],
            "local_port": pa.array([40000 + i for i in k], pa.int64()),
            "remote_ip": [None if i % 7 == 0 else "2001:db8::7" for i in k],
            "remote_port": pa.array([None if i % 5 == 0 else 8333 for i in k], pa.int64()),
            "proto": ["tcp"] * n,
            "direction": [None if i % 3 == 0 else "outbound" for i in k],
            "category": ["btc-p2p"] * n,
            "coin": [None if i % 4 == 0 else "btc" for i in k],
            "detector": ["port"] * n,
            "confidence": [0.5 + i / 1000 for i in k],
            "source": ["it's 'quoted' ü"] * n,
            "source_ref": [f"flows.csv:{i + 2}" for i in k],
            "bytes": pa.array([None if i % 6 == 0 else 2**40 + i for i in k], pa.int64()),
            "packets": pa.array([i for i in k], pa.int64()),
            "detail": [
                None if i % 9 == 0 else f'{{"format": "csv", "n": {i}, "s": "é"}}' for i in k
            ],
            "evidence_sha256": [f"{i:064x}" for i in k],
            "connection_key": [None if i % 8 == 0 else f"tcp|k|{i}" for i in k],
        }
    )


def _fixed(store: Store) -> list[dict[str, Any]]:
    """Fixed values of two inputs (one of another scan, one without)."""
    with store.write() as conn:
        scan = conn.execute(
            insert(Scan).values(started_at=T, status="running", command="scan", counts={})
        ).inserted_primary_key
        ids = [
            conn.execute(
                insert(Input).values(path=p, size=1, sha256=p * 64, format="csv", read_at=T)
            ).inserted_primary_key[0]
            for p in "ab"
        ]
    assert scan is not None
    later = T + dt.timedelta(hours=1)
    return [
        {"last_seen_at": None, "recorded_at": T, "input_id": ids[0], "scan_id": scan[0]},
        {"last_seen_at": None, "recorded_at": later, "input_id": ids[1], "scan_id": None},
    ]


def _stored(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT id, {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id"
        ).all()
    return [tuple(row) for row in rows]


def _expected(db_url: str, parts: list[tuple[pa.Table, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """What today's path (``insert_events``, all columns) stores for the same events."""
    store = open_store(db_url)
    try:
        _fixed(store)
        with store.write() as conn:
            for table, fixed in parts:
                rows = [{**row, **fixed} for row in table.to_pylist()]
                insert_events(conn, [{**r, "watchlist": str(r["watchlist"])} for r in rows])
        return _stored(store)
    finally:
        store.close()


@pytest.mark.parametrize("flushes", [1, 3, scratch.FILES + 2])
def test_writer_stores_what_insert_events_stores(
    db_url: str, twin_url: str, flushes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_copy, "_COPY_PART", 16)  # PostgreSQL: a batch COPYed in parts
    monkeypatch.setattr(writes, "STAGED_ROWS", 50)  # SQLite: staged as held batches add up
    store = open_store(db_url)
    try:
        fixed = _fixed(store)
        parts = [(_events(37, 50 * i), fixed[i % 2]) for i in range(max(flushes, 4))]
        per_flush = -(-len(parts) // flushes)
        with store.write() as conn:
            writer = EventWriter(conn)
            for i, (table, values) in enumerate(parts):
                assert writer.add(table, values) == table.num_rows
                if (i + 1) % per_flush == 0:
                    writer.flush()
            writer.flush()
            writer.flush()  # idempotent
        stored = _stored(store)
    finally:
        store.close()
    assert len(stored) == sum(t.num_rows for t, _ in parts)
    assert stored == _expected(twin_url, parts)


def test_writer_rolled_back_stores_nothing_and_the_next_transaction_does(db_url: str) -> None:
    store = open_store(db_url)
    try:
        fixed = _fixed(store)[0]
        with pytest.raises(RuntimeError), store.write() as conn:
            writer = EventWriter(conn)
            writer.add(_events(10), fixed)
            writer.flush()
            writer.add(_events(10, 10), fixed)
            raise RuntimeError("killed")
        assert _stored(store) == []
        with store.write() as conn:
            writer = EventWriter(conn)
            writer.add(_events(3, 20), fixed)
            writer.flush()
        assert [row[EVENT_COLUMNS.index("source_ref") + 1] for row in _stored(store)] == [
            "flows.csv:22",
            "flows.csv:23",
            "flows.csv:24",
        ]
    finally:
        store.close()


def test_writer_refuses_missing_columns_text_fixed_values_and_naive_times(db_url: str) -> None:
    store = open_store(db_url)
    try:
        fixed = _fixed(store)[0]
        with store.write() as conn:
            writer = EventWriter(conn)
            with pytest.raises(ValueError, match="source_ref"):
                writer.add(_events(2).drop_columns(["source_ref"]), fixed)
            with pytest.raises(TypeError, match="recorded_at"):
                writer.add(_events(2), {**fixed, "recorded_at": "2019-05-06"})  # type: ignore[dict-item]
            naive = _events(2).set_column(0, "observed_at", pa.array([0, 1], pa.timestamp("us")))
            with pytest.raises(ValueError, match="naive"):
                writer.add(naive, fixed)
            assert writer.add(_events(0), fixed) == 0
            writer.flush()
        assert _stored(store) == []
        assert set(FIXED_EVENT_COLUMNS) <= set(EVENT_COLUMNS)
    finally:
        store.close()
