"""Times are timezone-aware UTC on every backend; naive times are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import StatementError

from chainwatch.store.db import open_store
from chainwatch.store.models import HostResolution
from chainwatch.store.reporting import bucket_counts
from chainwatch.store.writes import add_rollup_addresses, add_rollups


def test_times_round_trip_as_utc(db_url: str) -> None:
    store = open_store(db_url)
    try:
        plus_two = dt.timezone(dt.timedelta(hours=2))
        when = dt.datetime(2017, 5, 17, 14, 30, 5, 123456, tzinfo=plus_two)
        with store.session() as session:
            session.add(
                HostResolution(host="pool.example.org", address="192.0.2.1", resolved_at=when)
            )
        with store.session() as session:
            row = session.query(HostResolution).one()
            assert row.resolved_at == when
            assert row.resolved_at.utcoffset() == dt.timedelta(0)
            assert row.resolved_at.hour == 12
    finally:
        store.close()


def test_naive_times_are_refused(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with pytest.raises(StatementError, match="UTC-aware"), store.session() as session:
            session.add(HostResolution(host="h.example.org", resolved_at=dt.datetime(2017, 5, 17)))
            session.flush()
    finally:
        store.close()


def test_report_days_are_utc_days_whatever_the_session_zone(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PGTZ would move PostgreSQL's date_trunc and ::date to another zone; the store pins UTC."""
    monkeypatch.setenv("PGTZ", "Asia/Pyongyang")  # UTC+9: 23:30 UTC is the next day there
    late = dt.datetime(2019, 5, 1, 23, tzinfo=dt.UTC)
    store = open_store(db_url)
    try:
        with store.write() as conn:
            add_rollups(
                conn,
                [
                    {"hour": late, "watchlist": "kp", "category": "xmr-pool", "records": 1}
                    | {"bytes": 10, "packets": 1, "events": 1}
                ],
            )
            add_rollup_addresses(
                conn,
                [
                    {
                        "hour": late,
                        "watchlist": "kp",
                        "category": "xmr-pool",
                        "local_ip": "175.45.176.5",
                    }
                ],
            )
        with store.engine.connect() as conn:
            counts, sources = bucket_counts(conn, by="day", watchlist="kp", since=None, until=None)
    finally:
        store.close()
    assert [(c.start, c.category, c.events) for c in counts] == [
        (dt.date(2019, 5, 1), "xmr-pool", 1)
    ]
    assert [(s.start, s.group, s.sources) for s in sources] == [(dt.date(2019, 5, 1), "xmr", 1)]
