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

from chainwatch.classify import Classifier
from chainwatch.match import match_batch
from chainwatch.nodes.observe import NodeSource, observations
from chainwatch.nodes.snapshot import BookEntry, NodeSnapshot
from chainwatch.store.db import Store
from chainwatch.store.ingest import Ingest
from chainwatch.store.nodes import store_book, store_peers
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
    matched = match_batch(
        observations(snapshot, source, now),
        matcher=matcher,
        # Each peer carries the node's verdict (node-peer), which the match stage puts before
        # catalogs and port rules, and its remote side is the node itself: nothing to look up.
        classifier=Classifier((), {}),
        source=source.name,
        name=source.url,
        fmt="node",
    )
    book = _book_rows(snapshot.book, matcher, source, now, scan_id)
    with Ingest.transaction(store, scan_id) as ingest:
        event_counts = store_peers(ingest, matched.events, seen_at=now)
        book_counts = store_book(ingest, book)
    return Recorded(
        peers=len(snapshot.peers),
        peers_watched=0 if matched.events is None else matched.events.num_rows,
        events_new=event_counts.new,
        events_updated=event_counts.updated,
        book=len(snapshot.book),
        book_watched=len(book),
        book_new=book_counts.new,
        book_updated=book_counts.updated,
        skipped=snapshot.skipped,
    )
