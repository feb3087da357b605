"""One poll's peers as observations, through the one match stage, into the one ingest path.

The node is a source like any other: ``observations`` turns a poll's live peers into a
``Batch`` of the observation schema, each peer a record from the peer (``src``) to the node
(``dst``) at the time the connection began (or the poll's time when the node does not say),
with the peer's raw record as the evidence and the node's URL as its reference. The node's
verdict comes with each record (category ``<coin>-p2p``, detector ``node-peer``), and so do
the parts of the event a five-tuple cannot give:

- ``direction`` is the watched peer's view (the watched endpoint is the record's local side,
  DESIGN.md): ``outbound`` when the peer dialled the node, ``inbound`` when the node dialled
  the peer; ``detail.node_direction`` keeps the node's own view; both None when the node does
  not say;
- ``detail`` holds what the node said of the peer, ``detail.raw`` its raw record as the latest
  poll read it (which ``evidence_sha256`` hashes);
- ``connection_key`` identifies the live connection across polls.

The match stage keeps the watched peers; ``chainwatch.store.nodes`` stores them in one
transaction with the watched address-book entries, which are no events (matched with the same
matcher call, and stored in their own table).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from chainwatch.categories import CONFIDENCE, Detector, coin_of
from chainwatch.flows.columns import UTC_US
from chainwatch.nodes.snapshot import BookEntry, NodeSnapshot, Peer, canonical_json, sha256_of
from chainwatch.observations import OVERRIDE_SCHEMA, SCHEMA, VERDICT_SCHEMA, Batch
from chainwatch.store.db import Store
from chainwatch.store.nodes import Transaction, store_book, store_peers
from chainwatch.store.writes import EVENT_COLUMNS, FIXED_EVENT_COLUMNS
from chainwatch.watchlists import RangeMatcher

_FLIP = {"outbound": "inbound", "inbound": "outbound"}

#: The observation schema with the verdict and event-override columns a node's peers carry.
PEER_SCHEMA = pa.schema([*SCHEMA, *VERDICT_SCHEMA, *OVERRIDE_SCHEMA])


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


def _detail(peer: Peer, node: dict[str, Any]) -> str:
    """The event's ``detail``, as the JSON column writes a dict (``json.dumps``)."""
    return json.dumps(
        {
            "node_direction": peer.node_direction,
            "user_agent": peer.user_agent,
            "node_bytes_sent": peer.bytes_sent,
            "node_bytes_received": peer.bytes_received,
            # Where observed_at came from: the node's start time, or the first poll seeing it.
            "observed_from": "node" if peer.started_at is not None else "first poll",
            "node": node,
            **peer.detail,
            "raw": peer.raw,
        }
    )


def _key(key: str) -> str:
    # The column holds 200 characters; an over-long key (an odd address form) is hashed.
    return key if len(key) <= 200 else "sha256:" + sha256_of(key)


def observations(snapshot: NodeSnapshot, source: NodeSource, now: dt.datetime) -> Batch:
    """The poll's live peers as a batch of observations (see the module's docstring); line
    numbers are the peers' places in the node's answer, from 1."""
    peers = snapshot.peers
    n = len(peers)
    verdict = Detector.NODE_PEER
    table = pa.table(
        {
            "ts": pa.array([p.started_at or now for p in peers], UTC_US),
            "src_ip": [p.ip for p in peers],
            "dst_ip": [p.node_ip for p in peers],
            "src_port": [p.port for p in peers],
            "dst_port": [p.node_port for p in peers],
            "proto": ["tcp"] * n,
            "bytes": [p.bytes for p in peers],
            "packets": pa.nulls(n, pa.int64()),
            "uid": pa.nulls(n, pa.string()),
            "category": [source.category] * n,
            "detector": [str(verdict)] * n,
            "confidence": [CONFIDENCE[verdict]] * n,
            "endpoint": pa.nulls(n, pa.string()),
            "facts": pa.nulls(n, pa.string()),
            # None: the node did not say.
            "direction": [_FLIP.get(p.node_direction or "") for p in peers],
            "detail": [_detail(p, snapshot.node) for p in peers],
            "connection_key": [_key(p.connection_key) for p in peers],
        },
        schema=PEER_SCHEMA,
    )
    # The raw record's canonical JSON: its digest is the event's evidence_sha256 (sha256_of).
    raw = [canonical_json(p.raw).encode("utf-8") for p in peers]
    return Batch(table, np.arange(1, n + 1, dtype=np.int64), raw=raw, refs=[source.url] * n)


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
