"""Storing node observations on SQLite and PostgreSQL: a live connection is one event however
often it is polled, counted once in the rollups; a new connection is a new event; address-book
entries keep their first-recorded time; unmatched and non-IP peers are not stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from chainwatch.nodes.record import NodeSource, record_snapshot
from chainwatch.nodes.snapshot import BookEntry, NodeSnapshot, Peer, sha256_of
from chainwatch.store.db import open_store
from chainwatch.store.models import AddressBookEntry, Event, Rollup, RollupAddress
from chainwatch.watchlists import RangeMatcher, load_watchlists

T0 = dt.datetime(2024, 5, 6, 13, 10, tzinfo=dt.UTC)
SOURCE = NodeSource(name="btc-main", url="http://127.0.0.1:8332", coin="btc")


def matcher(tmp_path: Path) -> RangeMatcher:
    directory = tmp_path / "lists"
    directory.mkdir()
    (directory / "kp.txt").write_text("175.45.176.0/22\n2001:db8:77::/48\n")
    return RangeMatcher(load_watchlists(directory).watchlists)


def peer(ip: str, key: str, sent: int, direction: str = "outbound") -> Peer:
    return Peer(
        ip=ip,
        port=8333,
        node_direction=direction,
        connection_key=key,
        started_at=T0,
        bytes_sent=sent,
        bytes_received=10,
        user_agent="/Satoshi:27.0.0/",
        raw={"addr": f"{ip}:8333", "bytessent": sent},
    )


def test_live_connection_is_one_event_and_new_connection_another(
    db_url: str, tmp_path: Path
) -> None:
    ranges = matcher(tmp_path)
    store = open_store(db_url)
    try:
        first = NodeSnapshot(
            node={"subversion": "/Satoshi:27.0.0/"},
            peers=[
                peer("175.45.176.9", "a", 100),
                peer("2001:db8:77::5", "b", 5, "inbound"),
                peer("198.51.100.3", "c", 7),  # not watched
                peer("abcdefghij234567.onion", "d", 7),  # not an IP: never matches
            ],
            book=[
                BookEntry(ip="175.45.176.200", port=8333, last_seen=T0),
                BookEntry(ip="192.0.2.44", port=8333),
            ],
        )
        done = record_snapshot(store, ranges, first, SOURCE, now=T0, scan_id=None)
        assert (done.peers, done.peers_watched, done.events_new, done.book_watched) == (4, 2, 2, 1)

        later = T0 + dt.timedelta(minutes=5)
        second = NodeSnapshot(
            node={},
            peers=[peer("175.45.176.9", "a", 900), peer("175.45.176.9", "e", 1)],
            book=[BookEntry(ip="175.45.176.200", port=8333, last_seen=later)],
        )
        done = record_snapshot(store, ranges, second, SOURCE, now=later, scan_id=None)
        assert (done.events_new, done.events_updated, done.book_new, done.book_updated) == (
            1,
            1,
            0,
            1,
        )

        with store.session() as session:
            events = {e.connection_key: e for e in session.scalars(select(Event))}
            assert set(events) == {"a", "b", "e"}
            a = events["a"]
            assert a.detail is not None
            assert (a.observed_at, a.last_seen_at, a.bytes) == (T0, later, 910)
            assert (
                a.evidence_sha256 == sha256_of(a.detail["raw"])
                and a.detail["raw"]["bytessent"] == 900
            )
            assert events["b"].last_seen_at == T0  # not seen again: left as it was
            assert (events["b"].direction, events["b"].local_ip) == ("outbound", "2001:db8:77::5")
            assert (a.direction, a.category, a.detector, a.source_ref) == (
                "inbound",
                "btc-p2p",
                "node-peer",
                SOURCE.url,
            )
            [rollup] = session.scalars(select(Rollup))
            # Three connections, each counted once, in the hour they began.
            assert (rollup.hour, rollup.events, rollup.records) == (T0.replace(minute=0), 3, 3)
            assert sorted(r.local_ip for r in session.scalars(select(RollupAddress))) == [
                "175.45.176.9",
                "2001:db8:77::5",
            ]
            [entry] = session.scalars(select(AddressBookEntry))
            assert (entry.ip, entry.watchlist, entry.matched_cidr, entry.coin) == (
                "175.45.176.200",
                "kp",
                "175.45.176.0/22",
                "btc",
            )
            assert (entry.first_recorded_at, entry.last_recorded_at, entry.last_seen_at) == (
                T0,
                later,
                later,
            )
    finally:
        store.close()


def test_same_connection_twice_in_one_answer_is_one_event(db_url: str, tmp_path: Path) -> None:
    ranges = matcher(tmp_path)
    store = open_store(db_url)
    try:
        snapshot = NodeSnapshot(
            node={}, peers=[peer("175.45.176.9", "a", 1), peer("175.45.176.9", "a", 2)]
        )
        done = record_snapshot(store, ranges, snapshot, SOURCE, now=T0, scan_id=None)
        assert (done.events_new, done.events_updated) == (1, 0)
        with store.session() as session:
            assert [e.bytes for e in session.scalars(select(Event))] == [12]
    finally:
        store.close()
