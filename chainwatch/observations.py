"""The one observation schema: what every source yields and the match stage takes.

A source (nfcapd, nfdump CSV, Zeek, generic CSV, Suricata eve, a packet capture, a node's
peers) turns its input into ``Batch``es: an Arrow table of ``SCHEMA``, plus each row's
provenance (its line or record number, or a ``refs`` entry such as a node's URL, and its raw
record or the digest of it). A source knows nothing of storage; ``chainwatch.match`` turns
batches into events and rollup rows, and ``chainwatch.store.ingest`` stores them.

``SCHEMA``: ``ts`` (UTC; null when the record has no time), ``src_ip``, ``dst_ip``,
``src_port``, ``dst_port``, ``proto``, ``bytes``, ``packets``, ``uid`` (Zeek's connection id,
else null).

Optional columns a source may add to ``Batch.table``; the match stage uses them when present:

- verdicts (``VERDICT_SCHEMA``), for records that carry their own (a capture's payloads, a
  Zeek ssl/http verdict, a Suricata alert, a node's peers): ``category`` (null where the
  record has none), ``detector``, ``confidence``, ``endpoint`` (a catalog endpoint's name,
  or null) and ``facts`` (JSON text, or null);
- event overrides (``OVERRIDE_SCHEMA``), for records whose event the source knows better
  than a flow's five-tuple (a node's peers): ``direction`` (``inbound``/``outbound``),
  ``detail`` (JSON text, the event's whole ``detail``), both taken as given (null too), and
  ``connection_key`` (null: computed as for a flow).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from chainwatch.flows import columns as cols
from chainwatch.passive_dns import Answer

SCHEMA = pa.schema(
    [
        ("ts", cols.UTC_US),
        ("src_ip", pa.string()),
        ("dst_ip", pa.string()),
        ("src_port", pa.int64()),
        ("dst_port", pa.int64()),
        ("proto", pa.string()),
        ("bytes", pa.int64()),
        ("packets", pa.int64()),
        ("uid", pa.string()),
    ]
)

#: The optional verdict columns (``category`` null where a record has no verdict of its own).
VERDICT_SCHEMA = pa.schema(
    [
        ("category", pa.string()),
        ("detector", pa.string()),
        ("confidence", pa.float64()),
        ("endpoint", pa.string()),
        ("facts", pa.string()),
    ]
)

#: The optional event overrides (null where the computed value stands).
OVERRIDE_SCHEMA = pa.schema(
    [
        ("direction", pa.string()),
        ("detail", pa.string()),
        ("connection_key", pa.string()),
    ]
)


@dataclass
class Batch:
    """Records in the observation schema, with each row's line (or packet) number and raw
    record: ``spans`` (start and end of each row's record in ``block``) for text, ``raw`` for
    records given one by one. A reader that hashes its records itself (pcap: the frame that is
    the evidence) gives ``digests`` instead. A reader of a log holding only DNS yields batches
    with an empty table and ``answers``."""

    table: pa.Table
    lines: np.ndarray
    raw: list[bytes] = field(default_factory=list)
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    bytes_read: int = 0
    digests: list[str] | None = None
    block: bytes = b""
    spans: np.ndarray | None = None
    #: Records the reader could use, watched or not, where the table holds only some of them
    #: (a capture's table holds only watched connections); None: the table's rows are all.
    usable: int | None = None
    #: The DNS answers the reader found in this batch's part of the input (a capture's DNS
    #: responses, a dns.log's lines); the match stage gives them to the classifier before it
    #: classifies the batch's records, and the ingest stores them with the input.
    answers: list[Answer] = field(default_factory=list)
    #: Each row's ``source_ref`` as the source gives it (a node's URL); None: ``name:line``.
    refs: list[str] | None = None

    def digests_for(self, rows: np.ndarray) -> list[str]:
        """SHA-256 (hex) of the raw records at ``rows``: the evidence hash events cite."""
        if self.digests is not None:
            return [self.digests[r] for r in rows.tolist()]
        if self.spans is not None:
            view = memoryview(self.block)
            return [hashlib.sha256(view[s:e]).hexdigest() for s, e in self.spans[rows].tolist()]
        return [hashlib.sha256(self.raw[r]).hexdigest() for r in rows.tolist()]


def empty() -> Batch:
    """A batch of no records."""
    return Batch(pa.Table.from_pylist([], schema=SCHEMA), np.zeros(0, np.int64))
