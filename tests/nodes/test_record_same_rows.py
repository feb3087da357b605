"""Node peers through the observation batch, the match stage and the ingest path store the very
rows the node records stored before (issue 16): every events column but id, recorded_at and
scan_id byte for byte as the database holds it, and the same rollups, on SQLite and PostgreSQL.

The reference is today's code kept here (``_today_event``): each watched peer's event dict,
inserted with SQLAlchemy as ``upsert_peer_events`` inserted it, and refreshed on a later poll
as it refreshed it; each new connection counted once in the hour it began.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, insert, select, update

from chainwatch.categories import CONFIDENCE, Detector
from chainwatch.nodes.observe import NodeSource, observations
from chainwatch.nodes.record import record_snapshot
from chainwatch.nodes.snapshot import NodeSnapshot, Peer, sha256_of
from chainwatch.store.db import Store, open_store
from chainwatch.store.models import Event, Rollup, RollupAddress
from chainwatch.store.writes import EVENT_COLUMNS
from chainwatch.watchlists import RangeMatcher, load_watchlists
from tests.conftest import PgDatabases

T0 = dt.datetime(2024, 5, 6, 13, 10, 7, 250_000, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(minutes=5, microseconds=3)
SOURCE = NodeSource(name="ltc-main", url="http://127.0.0.1:9332", coin="ltc")
NODE = {"subversion": "/LitecoinCore:0.21.2/", "version": 210200, "note": "Zürich ☃"}
COMPARED = [c for c in EVENT_COLUMNS if c not in ("recorded_at", "scan_id")]
LONG_KEY = "k" * 230  # over the column's 200 characters: stored hashed


def _matcher(tmp_path: Path) -> RangeMatcher:
    directory = tmp_path / "lists"
    directory.mkdir()
    (directory / "kp.txt").write_text("175.45.176.0/22\n2001:db8:77::/48\n")
    return RangeMatcher(load_watchlists(directory).watchlists)


def _peers(sent: int) -> list[Peer]:
    """Awkward on purpose: no start time, no direction, no byte counts, no node address,
    non-ASCII text, floats, nested records, IPv6, an over-long key, a non-IP peer, an
    unwatched peer of a watched node address."""
    return [
        Peer(
            ip="175.45.176.9",
            port=9333,
            node_direction="outbound",
            connection_key="175.45.176.9:9333#1",
            started_at=T0 - dt.timedelta(hours=2, microseconds=1),
            bytes_sent=sent,
            bytes_received=10,
            user_agent="/LitecoinCore:0.21.2/ «ünïcode»",
            node_ip="127.0.0.1",
            node_port=19335,
            detail={"services": "0000000000000409", "version": 70016, "pingtime": 0.0125},
            raw={"addr": "175.45.176.9:9333", "bytessent": sent, "pingtime": 0.0125, "x": [1]},
        ),
        Peer(
            ip="2001:db8:77::5",
            port=None,
            node_direction=None,
            connection_key=LONG_KEY,
            user_agent=None,
            raw={"addr": "[2001:db8:77::5]", "quote": 'a "b" \\ c\n', "n": None},
        ),
        Peer(
            ip="175.45.177.1",
            port=9333,
            node_direction="inbound",
            connection_key="175.45.177.1:9333#7",
            started_at=T0,
            bytes_received=5,
            node_ip="::1",
            node_port=9333,
            raw={},
        ),
        # The node's own address is watched, its peer not: no event (the node is no peer).
        Peer(
            ip="198.51.100.3",
            port=9333,
            node_direction="inbound",
            connection_key="c",
            node_ip="175.45.176.1",
            node_port=9333,
        ),
        Peer(ip="abcdefghij234567.onion", port=9333, node_direction="inbound", connection_key="d"),
    ]


_FLIP = {"outbound": "inbound", "inbound": "outbound"}


def _today_event(peer: Peer, watchlist: str, cidr: str, now: dt.datetime) -> dict[str, Any]:
    """``chainwatch.nodes.record._event`` as it was before issue 16."""
    key = peer.connection_key
    return {
        "observed_at": peer.started_at or now,
        "last_seen_at": now,
        "recorded_at": now,
        "watchlist": watchlist,
        "matched_cidr": cidr,
        "local_ip": peer.ip,
        "local_port": peer.port,
        "remote_ip": peer.node_ip,
        "remote_port": peer.node_port,
        "proto": "tcp",
        "direction": _FLIP.get(peer.node_direction or ""),
        "category": SOURCE.category,
        "coin": SOURCE.coin,
        "detector": str(Detector.NODE_PEER),
        "confidence": CONFIDENCE[Detector.NODE_PEER],
        "source": SOURCE.name,
        "source_ref": SOURCE.url,
        "input_id": None,
        "scan_id": None,
        "bytes": peer.bytes,
        "packets": None,
        "detail": {
            "node_direction": peer.node_direction,
            "user_agent": peer.user_agent,
            "node_bytes_sent": peer.bytes_sent,
            "node_bytes_received": peer.bytes_received,
            "observed_from": "node" if peer.started_at is not None else "first poll",
            "node": NODE,
            **peer.detail,
            "raw": peer.raw,
        },
        "evidence_sha256": sha256_of(peer.raw),
        "connection_key": key if len(key) <= 200 else "sha256:" + sha256_of(key),
    }


def _today(store: Store, now: dt.datetime, sent: int) -> None:
    """Today's write of one poll: insert the new connections, refresh the known ones."""
    watched = _peers(sent)[:3]
    events = [_today_event(p, "kp", c, now) for p, c in zip(watched, CIDRS, strict=True)]
    with store.write() as conn:
        if now == T0:
            conn.execute(insert(Event), events)
            return
        for event in events:
            refresh = ("last_seen_at", "bytes", "packets", "detail", "evidence_sha256")
            conn.execute(
                update(Event)
                .where(
                    and_(
                        Event.source == event["source"],
                        Event.connection_key == event["connection_key"],
                    )
                )
                .values({name: event[name] for name in refresh})
            )


CIDRS = ("175.45.176.0/22", "2001:db8:77::/48", "175.45.176.0/22")


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Rows as the driver returns them: JSON as its text, times as stored."""
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(sql)]


def _second(db_url: str, tmp_path: Path, pg_databases: PgDatabases) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'today.db'}"
    return pg_databases.new()


def test_peer_batch_carries_verdict_overrides_and_evidence() -> None:
    snapshot = NodeSnapshot(node=NODE, peers=_peers(100))
    batch = observations(snapshot, SOURCE, T0)
    table = batch.table
    assert table.column("src_ip").to_pylist()[:2] == ["175.45.176.9", "2001:db8:77::5"]
    assert table.column("dst_port").to_pylist()[:3] == [19335, None, 9333]
    assert table.column("ts").to_pylist()[1] == T0  # no start time: the poll's
    assert set(table.column("detector").to_pylist()) == {"node-peer"}
    assert set(table.column("category").to_pylist()) == {"ltc-p2p"}
    assert batch.refs == [SOURCE.url] * len(snapshot.peers)
    assert table.column("direction").to_pylist()[:3] == ["inbound", None, "outbound"]
    assert table.column("connection_key").to_pylist()[1] == "sha256:" + sha256_of(LONG_KEY)
    rows = np.arange(len(snapshot.peers))
    assert batch.digests_for(rows) == [sha256_of(p.raw) for p in snapshot.peers]


def test_stored_rows_are_todays(db_url: str, tmp_path: Path, pg_databases: PgDatabases) -> None:
    matcher = _matcher(tmp_path)
    new, old = open_store(db_url), open_store(_second(db_url, tmp_path, pg_databases))
    try:
        for now, sent in ((T0, 100), (LATER, 900)):
            snapshot = NodeSnapshot(node=NODE, peers=_peers(sent))
            done = record_snapshot(new, matcher, snapshot, SOURCE, now=now, scan_id=None)
            assert (done.peers, done.peers_watched) == (5, 3)
            assert (done.events_new, done.events_updated) == ((3, 0) if now == T0 else (0, 3))
            _today(old, now, sent)
        order = " ORDER BY connection_key"
        events = f"SELECT {', '.join(COMPARED)} FROM events" + order
        got, expected = _rows(new, events), _rows(old, events)
        assert len(got) == 3
        assert got == expected
        with new.session() as session:
            rollups = {
                (r.hour, r.watchlist, r.category): (r.records, r.bytes, r.packets, r.events)
                for r in session.scalars(select(Rollup))
            }
            addresses = sorted((a.hour, a.local_ip) for a in session.scalars(select(RollupAddress)))
        began = dt.datetime(2024, 5, 6, 11, tzinfo=dt.UTC)  # the first peer's start, 2 h before
        first_poll = T0.replace(minute=0, second=0, microsecond=0)
        # Each connection once, in the hour it began, whatever the later poll saw.
        assert rollups == {
            (began, "kp", "ltc-p2p"): (1, 110, 0, 1),
            (first_poll, "kp", "ltc-p2p"): (2, 5, 0, 2),
        }
        assert addresses == [
            (began, "175.45.176.9"),
            (first_poll, "175.45.177.1"),
            (first_poll, "2001:db8:77::5"),
        ]
    finally:
        new.close()
        old.close()
