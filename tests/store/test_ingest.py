"""Bulk ingest: rollups add up, distinct addresses stay distinct, one input is one transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from chainwatch.store import ingest, writes
from chainwatch.store.db import open_store
from chainwatch.store.models import Event, Input, Rollup, RollupAddress

HOUR = dt.datetime(2019, 5, 6, 13, tzinfo=dt.UTC)


def _rollup(records: int, events: int = 0, category: str = "xmr-pool") -> dict[str, object]:
    return dict(
        hour=HOUR,
        watchlist="kp",
        category=category,
        records=records,
        bytes=records * 100,
        packets=records,
        events=events,
    )


def test_rollups_accumulate_and_addresses_are_distinct(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.write() as conn:
            writes.add_rollups(conn, [_rollup(3, 1), _rollup(5, 0, "other")])
            writes.add_rollup_addresses(
                conn,
                [
                    dict(hour=HOUR, watchlist="kp", category="xmr-pool", local_ip=ip)
                    for ip in ("175.45.176.1", "175.45.176.2")
                ],
            )
        with store.write() as conn:
            writes.add_rollups(conn, [_rollup(4, 2)])
            writes.add_rollup_addresses(
                conn,
                [dict(hour=HOUR, watchlist="kp", category="xmr-pool", local_ip="175.45.176.1")],
            )
        with store.session() as session:
            pool = session.scalars(select(Rollup).where(Rollup.category == "xmr-pool")).one()
            assert (pool.records, pool.bytes, pool.events, pool.hour) == (7, 700, 3, HOUR)
            assert session.scalar(select(func.count()).select_from(RollupAddress)) == 2
    finally:
        store.close()


def test_failed_input_leaves_nothing(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with pytest.raises(RuntimeError), store.write() as conn:
            ingest.add_input(
                conn, path="a.csv", size=10, sha256="ab" * 32, fmt="csv", scan_id=None, read_at=HOUR
            )
            writes.add_rollups(conn, [_rollup(3)])
            raise RuntimeError("killed halfway")
        with store.write() as conn:
            assert ingest.input_seen(conn, "ab" * 32) is None
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(Rollup)) == 0
            assert session.scalar(select(func.count()).select_from(Input)) == 0
    finally:
        store.close()


def test_scans_of_dead_processes_are_marked_interrupted(db_url: str) -> None:
    import subprocess
    import sys

    from chainwatch.store.models import Scan
    from chainwatch.store.scans import start_scan

    store = open_store(db_url)
    try:
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        first = start_scan(store, "scan", HOUR)
        with store.session() as session:
            session.get_one(Scan, first).pid = int(dead.stdout)
        live = start_scan(store, "scan", HOUR)  # this process: alive, left alone
        start_scan(store, "scan", HOUR)
        with store.session() as session:
            assert session.get_one(Scan, first).status == "interrupted"
            assert session.get_one(Scan, live).status == "running"
    finally:
        store.close()


def test_fixed_event_columns_are_stored_for_every_row(db_url: str) -> None:
    """Columns the same for all events of an insert are given once (numbers, times, NULL);
    every row gets them, and text is refused there (it would need quoting in SQL)."""
    store = open_store(db_url)
    event = dict(
        observed_at=HOUR,
        watchlist="kp",
        matched_cidr="175.45.176.0/22",
        local_ip="175.45.176.1",
        local_port=40001,
        remote_ip="198.51.100.7",
        remote_port=8333,
        proto="tcp",
        direction="outbound",
        category="btc-p2p",
        coin="btc",
        detector="port",
        confidence=0.4,
        source="it's 'quoted'",
        source_ref="a.csv:2",
        bytes=1,
        packets=1,
        detail={"format": "csv"},
        evidence_sha256="ab" * 32,
        connection_key=None,
    )
    fixed = {"last_seen_at": None, "recorded_at": HOUR, "input_id": None, "scan_id": None}
    try:
        with store.write() as conn:
            dialect_rows = writes.event_rows(
                [event, {**event, "local_port": 40002}], conn.dialect.name, fixed=fixed
            )
            assert len(dialect_rows[0]) == len(writes.EVENT_COLUMNS) - len(fixed)
            assert writes.insert_event_rows(conn, dialect_rows, fixed=fixed) == 2
            with pytest.raises(TypeError, match="source"):
                writes.insert_event_rows(conn, dialect_rows, fixed={**fixed, "source": "x"})
        with store.session() as session:
            stored = session.scalars(select(Event).order_by(Event.local_port)).all()
            assert [(e.local_port, e.recorded_at, e.source, e.last_seen_at) for e in stored] == [
                (40001, HOUR, "it's 'quoted'", None),
                (40002, HOUR, "it's 'quoted'", None),
            ]
    finally:
        store.close()
