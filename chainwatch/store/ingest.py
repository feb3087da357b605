"""Bulk writes of observations: inputs, events, hourly rollups and their distinct addresses.

One input file is written in one transaction (``Store.write()``): its ``inputs`` row, its
events and its rollup increments commit together or not at all. That is what makes a scan
killed at any point and run again end with exactly the data of one clean run, and what lets a
re-read of the same file (same SHA-256) store nothing twice.

Rollups are pre-aggregated by the caller (one row per hour, watchlist and category) and added
to what is stored with an upsert; distinct local addresses are kept as rows so that distinct
counts over several inputs stay exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from chainwatch.store.models import Event, Input, Rollup, RollupAddress

#: Event columns a caller provides (everything but the generated id), in table order.
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in Event.__table__.columns if c.name != "id")
ROLLUP_COLUMNS = ("hour", "watchlist", "category", "records", "bytes", "packets", "events")
ROLLUP_ADDRESS_COLUMNS = ("hour", "watchlist", "category", "local_ip")
_CHUNK = 50_000


def input_seen(conn: Connection, sha256: str) -> Input | None:
    """The ``inputs`` row of an input with this SHA-256, if it was already read."""
    row = conn.execute(select(Input).where(Input.sha256 == sha256)).first()
    return None if row is None else Input(**row._mapping)  # detached copy, for reporting


def add_input(
    conn: Connection,
    *,
    path: str,
    size: int,
    sha256: str,
    fmt: str,
    scan_id: int | None,
    read_at: dt.datetime,
    records: int = 0,
    watched: int = 0,
    bad: int = 0,
) -> int:
    """Record an input as read; returns its id. Call inside the input's write transaction."""
    result = conn.execute(
        insert(Input).values(
            path=path,
            size=size,
            sha256=sha256,
            format=fmt,
            scan_id=scan_id,
            read_at=read_at,
            records=records,
            watched=watched,
            bad=bad,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def update_input(conn: Connection, input_id: int, *, records: int, watched: int, bad: int) -> None:
    conn.execute(
        Input.__table__.update().where(Input.id == input_id).values(records=records, watched=watched, bad=bad)
    )


def _rows(table: pa.Table | Sequence[dict[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    if isinstance(table, pa.Table):
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ValueError(f"missing columns {missing}")
        return table.select(list(columns)).to_pylist()
    return list(table)


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


def insert_events(conn: Connection, events: pa.Table | Sequence[dict[str, Any]]) -> int:
    """Insert events (pyarrow table or dicts with ``EVENT_COLUMNS``); returns how many."""
    rows = _rows(events, EVENT_COLUMNS)
    for chunk in _chunks(rows):
        conn.execute(insert(Event), chunk)
    return len(rows)


def _upsert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def add_rollups(conn: Connection, rollups: pa.Table | Sequence[dict[str, Any]]) -> None:
    """Add per-hour totals to the stored rollups (insert, or increment an existing row)."""
    rows = _rows(rollups, ROLLUP_COLUMNS)
    if not rows:
        return
    # A stable order keeps concurrent writers from deadlocking on PostgreSQL row locks.
    rows.sort(key=lambda r: (r["hour"], r["watchlist"], r["category"]))
    statement = _upsert(conn)(Rollup)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["hour", "watchlist", "category"],
        set_={
            name: getattr(Rollup, name) + getattr(excluded, name)
            for name in ("records", "bytes", "packets", "events")
        },
    )
    for chunk in _chunks(rows):
        conn.execute(statement, chunk)


def add_rollup_addresses(conn: Connection, rows: pa.Table | Sequence[dict[str, Any]]) -> None:
    """Record distinct local addresses per hour, watchlist and category (duplicates ignored)."""
    items = _rows(rows, ROLLUP_ADDRESS_COLUMNS)
    if not items:
        return
    items.sort(key=lambda r: (r["hour"], r["watchlist"], r["category"], r["local_ip"]))
    statement = _upsert(conn)(RollupAddress).on_conflict_do_nothing(
        index_elements=["hour", "watchlist", "category", "local_ip"]
    )
    for chunk in _chunks(items):
        conn.execute(statement, chunk)
