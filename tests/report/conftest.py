"""Stores for the report tests: the simulated public timeline, and small hand-made datasets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from chainwatch.simulate import LOCAL_NET, Timeline, daily_counts, event_rows
from chainwatch.store.db import open_store
from chainwatch.store.writes import add_rollup_addresses, add_rollups, insert_events


def fill(url: str, timeline: Timeline) -> None:
    """Store ``timeline`` as a scan would: events, hourly rollups and rollup addresses."""
    store = open_store(url)
    try:
        events, rollups, addresses = event_rows(timeline)
        with store.write() as conn:
            insert_events(conn, events)
            add_rollups(conn, rollups)
            add_rollup_addresses(conn, addresses)
    finally:
        store.close()


def add_counts(
    url: str, cells: Iterable[tuple[dt.date, str, int, int]], *, watchlist: str = "kp"
) -> None:
    """Store hand-made cells (day, category, events, distinct local addresses) at noon UTC:
    the events of a cell go round its ``hosts`` addresses, as a scan would store them."""
    all_events: list[dict[str, Any]] = []
    rollups: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    for day, category, n, hosts in cells:
        events, rolls, _ = event_rows(
            Timeline([day], {category: np.array([n])}), watchlist=watchlist, source="hand"
        )
        for j, event in enumerate(events):
            event["local_ip"] = f"{LOCAL_NET}{1 + j % hosts}"
        all_events += events
        rollups += rolls
        addresses += [
            {"hour": e["observed_at"], "watchlist": watchlist, "category": category, "local_ip": ip}
            for e, ip in {e["local_ip"]: (e, e["local_ip"]) for e in events}.values()
        ]
    store = open_store(url)
    try:
        with store.write() as conn:
            insert_events(conn, all_events)
            add_rollups(conn, rollups)
            add_rollup_addresses(conn, addresses)
    finally:
        store.close()


@pytest.fixture
def shifted(db_url: str) -> str:
    """2019 only, scaled down: BTC then the May 2019 switch to XMR."""
    fill(db_url, daily_counts(dt.date(2019, 1, 1), dt.date(2019, 8, 31), scale=0.3))
    return db_url
