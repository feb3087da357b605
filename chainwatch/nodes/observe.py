"""A node's poll as observations: its live peers as a ``Batch`` of the observation schema.

The node is a source like any other and knows nothing of storage. Each live peer is a record
from the peer (``src``) to the node (``dst``) at the time the connection began (or the poll's
time when the node does not say), with the peer's raw record as the evidence and the node's
URL as its reference (``Batch.refs``). The node's verdict comes with each record (category
``<coin>-p2p``, detector ``node-peer``), and so do the parts of the event a five-tuple cannot
give (the event overrides of ``chainwatch.observations``):

- ``direction`` is the watched peer's view (the watched endpoint is the record's local side,
  DESIGN.md): ``outbound`` when the peer dialled the node, ``inbound`` when the node dialled
  the peer; ``detail.node_direction`` keeps the node's own view; both None when the node does
  not say;
- ``detail`` holds what the node said of the peer, ``detail.raw`` its raw record as the latest
  poll read it (which ``evidence_sha256`` hashes);
- ``connection_key`` identifies the live connection across polls.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from chainwatch.categories import CONFIDENCE, Detector
from chainwatch.flows.columns import UTC_US
from chainwatch.nodes.snapshot import NodeSnapshot, Peer, canonical_json, sha256_of
from chainwatch.observations import OVERRIDE_SCHEMA, SCHEMA, VERDICT_SCHEMA, Batch

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
