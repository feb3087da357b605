"""One poll of a node through the one match stage into the one ingest path.

``chainwatch.nodes.observe`` turns the poll's live peers into observations; the match stage
keeps the watched ones and makes their events; ``chainwatch.store.nodes`` stores them, in one
transaction with the watched address-book entries. Those are no events: they are matched with
the match stage's own matcher call and kept in their own table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from chainwatch.categories import coin_of
from chainwatch.nodes.observe import NodeSource, observations
from chainwatch.nodes.snapshot import BookEntry, NodeSnapshot
from chainwatch.observations import Batch
from chainwatch.store.db import Store
from chainwatch.store.nodes import Transaction, store_book, store_peers
from chainwatch.store.writes import EVENT_COLUMNS, FIXED_EVENT_COLUMNS
from chainwatch.watchlists import RangeMatcher

__all__ = ["NodeSource", "Recorded", "record_snapshot"]


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


def _match_peers(batch: Batch, matcher: RangeMatcher, source: NodeSource) -> pa.Table:
    """ADAPTER until ``chainwatch.match.match_batch`` is merged: the events of the watched
    peers (``EVENT_COLUMNS`` but the fixed ones), as the match stage makes them from a batch
    carrying its verdicts and event overrides."""
    table, refs = batch.table, batch.refs
    assert refs is not None, "observations() gives every peer the node's URL"
    found = matcher.match(table.column("src_ip"), table.column("ts"))
    rows = np.flatnonzero(found.matched)
    w = table.take(pa.array(rows, pa.int64()))
    category = w.column("category")
    events = {
        "observed_at": w.column("ts"),
        "watchlist": pa.array(found.watchlist_names()[rows].astype(str)),
        "matched_cidr": pa.array(found.cidrs()[rows].astype(str)),
        "local_ip": w.column("src_ip"),
        "local_port": w.column("src_port"),
        "remote_ip": w.column("dst_ip"),
        "remote_port": w.column("dst_port"),
        "proto": w.column("proto"),
        "direction": w.column("direction"),
        "category": category,
        "coin": pa.array([coin_of(c) for c in category.to_pylist()], pa.string()),
        "detector": w.column("detector"),
        "confidence": w.column("confidence"),
        "source": pa.array([source.name] * len(rows), pa.string()),
        "source_ref": pa.array([refs[r] for r in rows.tolist()], pa.string()),
        "bytes": w.column("bytes"),
        "packets": w.column("packets"),
        "detail": w.column("detail"),
        "evidence_sha256": pa.array(batch.digests_for(rows), pa.string()),
        "connection_key": w.column("connection_key"),
    }
    return pa.table({c: events[c] for c in EVENT_COLUMNS if c not in FIXED_EVENT_COLUMNS})


def _book_rows(
    book: Sequence[BookEntry],
    matcher: RangeMatcher,
    source: NodeSource,
    now: dt.datetime,
    scan_id: int | None,
) -> list[dict[str, Any]]:
    """The watched address-book entries as ``chainwatch.store.nodes.BOOK_COLUMNS`` rows,
    each matched at the time the node last heard of it (the poll's when it does not say)."""
    if not book:
        return []
    # The match stage's own matcher call (``RangeMatcher.match``), on the entries' addresses.
    found = matcher.match([e.ip for e in book], [e.last_seen or now for e in book])
    names, cidrs = found.watchlist_names(), found.cidrs()
    return [
        {
            "source": source.name,
            "source_ref": source.url,
            "coin": source.coin,
            "watchlist": str(names[i]),
            "matched_cidr": str(cidrs[i]),
            "ip": entry.ip,
            "port": entry.port,
            "list_name": entry.list_name,
            "last_seen_at": entry.last_seen,
            "first_recorded_at": now,
            "last_recorded_at": now,
            "scan_id": scan_id,
            "detail": entry.detail or None,
        }
        for i, entry in enumerate(book)
        if found.matched[i]
    ]


@dataclass(frozen=True)
class _Transaction:
    """ADAPTER until ``chainwatch.store.ingest.Ingest`` is merged: a write transaction."""

    conn: Any
    scan_id: int | None


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
    batch = observations(snapshot, source, now)
    events = _match_peers(batch, matcher, source)
    book = _book_rows(snapshot.book, matcher, source, now, scan_id)
    with store.write() as conn:
        ingest: Transaction = _Transaction(conn, scan_id)
        event_counts = store_peers(ingest, events, seen_at=now)
        book_counts = store_book(ingest, book)
    return Recorded(
        peers=len(snapshot.peers),
        peers_watched=events.num_rows,
        events_new=event_counts.new,
        events_updated=event_counts.updated,
        book=len(snapshot.book),
        book_watched=len(book),
        book_new=book_counts.new,
        book_updated=book_counts.updated,
        skipped=snapshot.skipped,
    )
