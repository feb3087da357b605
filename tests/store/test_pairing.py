"""Pairing's look-up: which connection keys a source stored, among its events of a time range."""

from __future__ import annotations

import datetime as dt

import pytest

from chainwatch.store.db import open_store
from chainwatch.store.pairing import EARLIEST, LATEST, known_keys
from tests.store.test_migration_0009 import _event

T = dt.datetime(2019, 5, 6, 13, 0, 1, 250_000, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def test_known_keys_of_the_source_within_the_time_range(db_url: str) -> None:
    from chainwatch.store.writes import insert_events

    store = open_store(db_url)
    try:
        with store.write() as conn:
            insert_events(
                conn,
                [
                    _event("a", live=False, n=0),  # at T
                    _event("b", live=False, n=120),  # two minutes later
                    _event("c", live=False, source="other.csv", n=1),
                ],
            )
        with store.write() as conn:
            ask = ["a", "b", "c", "d", *(f"x{i}" for i in range(5000))]

            def known(since: dt.datetime, until: dt.datetime) -> set[str]:
                return known_keys(conn, "flows.csv", ask, since=since, until=until)

            assert known(T - MINUTE, T + 3 * MINUTE) == {"a", "b"}
            assert known(T, T) == {"a"}  # both bounds included
            assert known(T + dt.timedelta(microseconds=1), T + 3 * MINUTE) == {"b"}
            assert known(T - 3 * MINUTE, T - MINUTE) == set()
            assert known(EARLIEST, LATEST) == {"a", "b"}
            assert known_keys(conn, "flows.csv", [], since=EARLIEST, until=LATEST) == set()
            with pytest.raises(ValueError, match="UTC"):
                known(T.replace(tzinfo=None), T)
    finally:
        store.close()
