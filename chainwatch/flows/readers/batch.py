"""The normalised flow schema, the ``Batch`` a reader yields, and a reader's ``Layout``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from chainwatch.flows import columns as cols
from chainwatch.flows.limits import Limits
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


@dataclass
class Batch:
    """Records in the normalised schema, with each row's line (or packet) number and raw
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
    #: responses, a dns.log's lines); the pipeline gives them to the classifier before it
    #: classifies the batch's records, and stores them with the input.
    answers: list[Answer] = field(default_factory=list)

    def digests_for(self, rows: np.ndarray) -> list[str]:
        """SHA-256 (hex) of the raw records at ``rows``: the evidence hash events cite."""
        if self.digests is not None:
            return [self.digests[r] for r in rows.tolist()]
        if self.spans is not None:
            view = memoryview(self.block)
            return [hashlib.sha256(view[s:e]).hexdigest() for s, e in self.spans[rows].tolist()]
        return [hashlib.sha256(self.raw[r]).hexdigest() for r in rows.tolist()]


def empty() -> Batch:
    return Batch(pa.Table.from_pylist([], schema=SCHEMA), np.zeros(0, np.int64))


@dataclass(frozen=True)
class Layout:
    """How a reader's lines hold the fields: separator, number of fields (``at_least``: or
    more), where each schema column is (``index``), whether zone-less times are UTC."""

    sep: str
    width: int
    index: dict[str, int | None]
    naive_is_utc: bool
    at_least: bool = False
    quoting: bool = False  # RFC 4180 quotes (CSV); Zeek escapes instead and never quotes
    limits: Limits = field(default_factory=Limits)
