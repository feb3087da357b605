"""Times are timezone-aware UTC on every backend; naive times are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import StatementError

from chainwatch.store.db import open_store
from chainwatch.store.models import HostResolution


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
