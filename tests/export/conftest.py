"""Helpers for export tests: events written through the real ingest path."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from chainwatch.store.db import Store
from chainwatch.store.ingest import add_input
from chainwatch.store.writes import insert_events

T0 = dt.datetime(2019, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def make_event(i: int, **over: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "observed_at": T0 + dt.timedelta(minutes=i),
        "last_seen_at": None,
        "recorded_at": T0 + dt.timedelta(days=1),
        "watchlist": "kp",
        "matched_cidr": "175.45.176.0/22",
        "local_ip": f"175.45.176.{i % 250 + 1}",
        "local_port": 40000 + i % 1000,
        "remote_ip": "203.0.113.10",
        "remote_port": 18080,
        "proto": "tcp",
        "direction": "outbound",
        "category": "xmr-p2p",
        "coin": "xmr",
        "detector": "port",
        "confidence": 0.3,
        "source": "border-flows",
        "source_ref": f"flows.csv:{i + 2}",
        "input_id": None,
        "scan_id": None,
        "bytes": 1000 + i,
        "packets": 10,
        "detail": {"note": f"record {i}"},
        "evidence_sha256": hashlib.sha256(str(i).encode()).hexdigest(),
        "connection_key": None,
    }
    event.update(over)
    return event


def add_events(
    store: Store,
    events: list[dict[str, Any]],
    *,
    path: str = "/data/flows.csv",
    content: bytes = b"x",
) -> int:
    """Store events as coming from one input file; returns the input id."""
    with store.write() as conn:
        input_id = add_input(
            conn,
            path=path,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            fmt="csv",
            scan_id=None,
            read_at=T0 + dt.timedelta(days=1),
            records=len(events),
            watched=len(events),
        )
        insert_events(conn, [{**e, "input_id": input_id} for e in events])
    return input_id
