"""Match one poll's peers and address-book entries against the watchlists and store the rest.

A peer in a watched range becomes an event of category ``<coin>-p2p``, detector
``node-peer``. Its *local* side is the watched peer (DESIGN.md: the watched endpoint is the
record's local side) and its *remote* side the node, so ``direction`` is the watched peer's
view: ``outbound`` when the peer dialled the node, ``inbound`` when the node dialled the peer.
``detail.node_direction`` keeps the node's own view; both are None when the node does not
say. ``evidence_sha256`` hashes the peer's raw record as the latest poll read it, which
``detail.raw`` holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chainwatch.categories import CONFIDENCE, Detector
from chainwatch.nodes.snapshot import BookEntry, NodeSnapshot, Peer, sha256_of
from chainwatch.store.db import Store
from chainwatch.store.nodes import upsert_address_book, upsert_peer_events
from chainwatch.watchlists import RangeMatcher

_FLIP = {"outbound": "inbound", "inbound": "outbound"}


@dataclass(frozen=True)
class NodeSource:
    """Where observations come from: the watcher's name, the node's public URL and its coin."""

    name: str
    url: str
    coin: str

    @property
    def category(self) -> str:
        return f"{self.coin}-p2p"


@dataclass(frozen=True)
class Recorded:
    """What one poll stored."""

    peers: int
    peers_watched: int
    events_new: int
    events_updated: int
    book: int
    book_watched: int
    book_new: int
    book_updated: int
    skipped: int

    def counts(self) -> dict[str, int]:
        """The scan counters (``chainwatch.watchers.interface.COUNTERS``) and node extras."""
        return {
            "read": self.peers + self.skipped + self.book,
            "watched": self.peers_watched + self.book_watched,
            "classified": self.peers_watched,
            "stored": self.events_new + self.book_new,
            "skipped": self.skipped,
            "bad": 0,
            "updated": self.events_updated + self.book_updated,
            "peers": self.peers,
            "address_book": self.book,
        }


def _matches(
    matcher: RangeMatcher, ips: Sequence[str], times: Sequence[dt.datetime]
) -> list[tuple[str, str] | None]:
    """(watchlist, cidr) per address at its record's time (dated ranges hold in a window)."""
    if not ips:
        return []
    result = matcher.match(list(ips), times)
    names = result.watchlist_names()
    cidrs = result.cidrs()
    return [
        (str(names[i]), str(cidrs[i])) if matched else None
        for i, matched in enumerate(result.matched.tolist())
    ]


def _event(
    peer: Peer,
    match: tuple[str, str],
    source: NodeSource,
    node: dict[str, Any],
    now: dt.datetime,
    scan_id: int | None,
) -> dict[str, Any]:
    watchlist, cidr = match
    detail: dict[str, Any] = {
        "node_direction": peer.node_direction,
        "user_agent": peer.user_agent,
        "node_bytes_sent": peer.bytes_sent,
        "node_bytes_received": peer.bytes_received,
        # Where observed_at came from: the node's own start time, or the first poll seeing it.
        "observed_from": "node" if peer.started_at is not None else "first poll",
        "node": node,
        **peer.detail,
        "raw": peer.raw,
    }
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
        "direction": _FLIP.get(peer.node_direction or ""),  # None: the node did not say
        "category": source.category,
        "coin": source.coin,
        "detector": str(Detector.NODE_PEER),
        "confidence": CONFIDENCE[Detector.NODE_PEER],
        "source": source.name,
        "source_ref": source.url,
        "input_id": None,
        "scan_id": scan_id,
        "bytes": peer.bytes,
        "packets": None,
        "detail": detail,
        "evidence_sha256": sha256_of(peer.raw),
        "connection_key": _key(peer.connection_key),
    }


def _key(key: str) -> str:
    # The column holds 200 characters; an over-long key (an odd address form) is hashed.
    return key if len(key) <= 200 else "sha256:" + sha256_of(key)


def _book_row(
    entry: BookEntry,
    match: tuple[str, str],
    source: NodeSource,
    now: dt.datetime,
    scan_id: int | None,
) -> dict[str, Any]:
    watchlist, cidr = match
    return {
        "source": source.name,
        "source_ref": source.url,
        "coin": source.coin,
        "watchlist": watchlist,
        "matched_cidr": cidr,
        "ip": entry.ip,
        "port": entry.port,
        "list_name": entry.list_name,
        "last_seen_at": entry.last_seen,
        "first_recorded_at": now,
        "last_recorded_at": now,
        "scan_id": scan_id,
        "detail": entry.detail or None,
    }


def record_snapshot(
    store: Store,
    matcher: RangeMatcher,
    snapshot: NodeSnapshot,
    source: NodeSource,
    *,
    now: dt.datetime,
    scan_id: int | None,
) -> Recorded:
    """Store the watched peers and address-book entries of one poll, in one transaction."""
    peer_matches = _matches(
        matcher, [p.ip for p in snapshot.peers], [p.started_at or now for p in snapshot.peers]
    )
    events = [
        _event(peer, match, source, snapshot.node, now, scan_id)
        for peer, match in zip(snapshot.peers, peer_matches, strict=True)
        if match is not None
    ]
    book_matches = _matches(
        matcher, [e.ip for e in snapshot.book], [e.last_seen or now for e in snapshot.book]
    )
    book = [
        _book_row(entry, match, source, now, scan_id)
        for entry, match in zip(snapshot.book, book_matches, strict=True)
        if match is not None
    ]
    with store.write() as conn:
        event_counts = upsert_peer_events(conn, events)
        book_counts = upsert_address_book(conn, book)
    return Recorded(
        peers=len(snapshot.peers),
        peers_watched=len(events),
        events_new=event_counts.new,
        events_updated=event_counts.updated,
        book=len(snapshot.book),
        book_watched=len(book),
        book_new=book_counts.new,
        book_updated=book_counts.updated,
        skipped=snapshot.skipped,
    )
