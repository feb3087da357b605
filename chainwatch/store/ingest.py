"""The one way into the database: inputs, their events, hourly rollups and DNS answers.

``Ingest.transaction`` opens one write transaction (``Store.write()``) that holds one input or
several (an nfcapd group), each begun with ``begin_input`` (its own ``inputs`` row) and fed
the batches ``chainwatch.match.match_batch`` made (``InputIngest.write``); what a transaction
holds commits together or not at all: an input's ``inputs`` row, its events and its rollup
increments. That is what makes a scan killed at any point and run again end with exactly the
data of one clean run, and what lets a re-read of the same file (same SHA-256) store nothing
twice.

Concurrent scans of the same input: the transaction first claims the input (``claim_input``).
The claim is part of the transaction, so it ends with it: committed, the ``inputs`` row says
the input was read; rolled back, or its process killed, the input is free again. A scan that
finds an input claimed skips it ("being read by scan N") rather than wait or fail.

Pairing: NetFlow exports the two directions of a connection as two records (and Zeek names
a connection by its uid), so an event is stored only for a record whose connection is new:
compared with the batch's other records, with the transaction's earlier batches, of this
input or an earlier one (in memory: ``Pairs``), and with the source's inputs of earlier
transactions (in the store, ``chainwatch.store.pairing``, whose lock makes a source's inputs
pair one at a time under concurrent scans). So the events need not be in ``events`` before
the transaction ends: they are written once (``EventWriter.flush``), before it commits, in
the order added (each input's events before the next input's).

Rollups and distinct local addresses are held in memory for the whole transaction
(``chainwatch.store.held``) and written when it ends; each input's ``inputs`` row and DNS
answers are its own. The rows themselves are written by ``chainwatch.store.writes``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, bindparam, insert, select, update

from chainwatch.flows.inputs import FlowInput, identity, is_gzip, sha256_of
from chainwatch.passive_dns import Sightings
from chainwatch.store.held import Held
from chainwatch.store.locks import name_writer, try_claim
from chainwatch.store.models import Input
from chainwatch.store.pairing import (
    EARLIEST,
    LATEST,
    Pairs,
    custom_plans,
    horizon,
    known_keys,
    latest_start,
    new_connections,
    pair_alone,
    stored_lookup,
)
from chainwatch.store.resolutions import add_answers
from chainwatch.store.writes import EventWriter, Fixed

if TYPE_CHECKING:
    from chainwatch.match import Matched
    from chainwatch.store.db import Store


# Built once: an nfcapd directory asks these of hundreds of inputs, and building a statement
# costs more than running it.
_SEEN = select(Input).where(Input.sha256 == bindparam("sha256"))
_ADD = insert(Input)


def input_seen(conn: Connection, sha256: str) -> Input | None:
    """The ``inputs`` row of an input with this SHA-256, if it was already read."""
    row = conn.execute(_SEEN, {"sha256": sha256}).first()
    return None if row is None else Input(**row._mapping)  # detached copy, for reporting


def claim_input(conn: Connection, sha256: str, scan_id: int | None) -> str | None:
    """Claim the input with this SHA-256 for the calling transaction (the input's own): None
    when it is now this transaction's to read, else why it is not ("already read ... as PATH
    (scan N)", "being read by scan N"). On PostgreSQL the claim is an advisory lock on the
    hash, taken without waiting; on SQLite the transaction's write lock already excludes every
    other writer, so looking is enough."""
    name_writer(conn, scan_id)
    holder = try_claim(conn, "input", sha256)
    if holder is not None:
        return f"being read by {holder}"
    seen = input_seen(conn, sha256)  # a claim taken after the reader committed sees its row
    if seen is not None:
        return f"already read {seen.read_at:%Y-%m-%d %H:%M}Z as {seen.path} (scan {seen.scan_id})"
    return None


def last_input(conn: Connection, path: str) -> Input | None:
    """The latest ``inputs`` row read from this path (to resume a file that has grown)."""
    row = conn.execute(select(Input).where(Input.path == path).order_by(Input.id.desc())).first()
    return None if row is None else Input(**row._mapping)


def add_input(
    conn: Connection,
    *,
    path: str,
    size: int,
    sha256: str,
    fmt: str,
    scan_id: int | None,
    read_at: dt.datetime,
    records: int = 0,
    watched: int = 0,
    bad: int = 0,
) -> int:
    """Record an input as read; returns its id. Call inside the input's write transaction."""
    result = conn.execute(
        _ADD,
        {
            "path": path,
            "size": size,
            "sha256": sha256,
            "format": fmt,
            "scan_id": scan_id,
            "read_at": read_at,
            "records": records,
            "watched": watched,
            "bad": bad,
        },
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def update_inputs(conn: Connection, totals: dict[int, InputTotals]) -> None:
    """Set the counts of inputs (by id), in one statement."""
    if not totals:
        return
    statement = (
        update(Input)
        .where(Input.id == bindparam("input_id"))
        .values(
            records=bindparam("n_records"), watched=bindparam("n_watched"), bad=bindparam("n_bad")
        )
    )
    rows = [
        {"input_id": k, "n_records": t.records, "n_watched": t.watched, "n_bad": t.bad}
        for k, t in totals.items()
    ]
    conn.execute(statement, rows)


@dataclass
class InputTotals:
    """What an input held, and what of it was stored."""

    records: int = 0
    watched: int = 0
    classified: int = 0
    stored: int = 0
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)


class Ingest:
    """One write transaction holding one or more inputs (``transaction``)."""

    def __init__(
        self,
        conn: Connection,
        scan_id: int | None,
        *,
        paired: bool = False,
        before_rollups: Callable[[], None] = lambda: None,
    ) -> None:
        self.conn = conn
        self.scan_id = scan_id
        #: the scan holds the sources' pairing locks for all its transactions (``pairing_held``)
        self.paired = paired
        self.writer = EventWriter(conn)
        self.held = Held(conn, self.writer, before_rollups)
        self.inputs = 0  # begun so far
        self.finished: dict[int, InputTotals] = {}  # counts for the inputs rows, at the end
        self._pairs: dict[str, Pairs] = {}

    @classmethod
    @contextlib.contextmanager
    def transaction(
        cls,
        store: Store,
        scan_id: int | None,
        *,
        paired: bool = False,
        before_rollups: Callable[[], None] = lambda: None,
    ) -> Iterator[Ingest]:
        """A write transaction; it commits when the block ends without an exception (the
        rollups held and every event added are written first), else rolls back.
        ``before_rollups`` runs before the first write of rollups (a cluster's unit waits
        there for the unit before it to commit)."""
        with store.write() as conn:
            ingest = cls(conn, scan_id, paired=paired, before_rollups=before_rollups)
            yield ingest
            ingest.held.write()
            ingest.writer.flush()
            update_inputs(conn, ingest.finished)

    def pairs(self, source: str) -> Pairs:
        """The source's pairing in this transaction: its lock taken (PostgreSQL) and its
        latest stored event asked, before the first look-up or write of its records (so no
        row it locks can be one that a writer waiting for it holds)."""
        pairs = self._pairs.setdefault(source, Pairs())
        if not pairs.asked:
            if self.paired:
                custom_plans(self.conn)
            else:
                pair_alone(self.conn, source)
            pairs.until = horizon(latest_start(self.conn, source))
            pairs.asked = True
        return pairs

    def claim(self, sha256: str) -> str | None:
        """``claim_input`` for this transaction."""
        return claim_input(self.conn, sha256, self.scan_id)

    def begin_input(
        self,
        *,
        path: str,
        size: int,
        sha256: str,
        fmt: str,
        read_at: dt.datetime,
        source: str,
        name: str,
    ) -> InputIngest:
        """Record an input (its ``inputs`` row) and take its batches."""
        input_id = add_input(
            self.conn,
            path=path,
            size=size,
            sha256=sha256,
            fmt=fmt,
            scan_id=self.scan_id,
            read_at=read_at,
        )
        self.inputs += 1
        return InputIngest(self, input_id, source=source, name=name, now=read_at)


class InputIngest:
    """One input of an ``Ingest``: ``write`` each matched batch (in order, in the thread that
    owns the transaction), then ``finish``."""

    def __init__(
        self, ingest: Ingest, input_id: int, *, source: str, name: str, now: dt.datetime
    ) -> None:
        self.ingest = ingest
        self.conn = ingest.conn
        self.input_id = input_id
        self.source = source
        self.name = name
        self.totals = InputTotals()
        # Columns the same for all the input's events: given once per batch, not per row.
        self._fixed: dict[str, Fixed] = {
            "last_seen_at": None,
            "recorded_at": now,
            "input_id": input_id,
            "scan_id": ingest.scan_id,
        }
        self._order = ingest.inputs  # its place in the transaction
        self._sightings = Sightings()  # the input's DNS answers, folded for the store

    def write(self, matched: Matched) -> None:
        """Store a matched batch: the events of connections not stored yet (those of
        ``matched.keep`` when it was decided beforehand), and the rollups (held until the
        transaction ends)."""
        pairs = self.ingest.pairs(self.source)
        totals = self.totals
        totals.bad += matched.bad
        totals.bad_examples.extend(matched.bad_examples)
        totals.records += matched.records
        if matched.answers:
            self._add_answers(self._sightings.add(matched.answers))
        if matched.frame is None:
            return
        totals.watched += matched.frame.num_rows
        totals.classified += matched.classified
        stored = np.zeros(matched.frame.num_rows, dtype=bool)
        if matched.connections is not None and matched.events is not None:
            keep = matched.keep
            if keep is None:
                lookup = stored_lookup(self.conn, self.source)
                keep = new_connections(matched.connections, pairs, lookup)
            events = matched.events.filter(pa.array(keep))
            totals.stored += self.ingest.writer.add(events, self._fixed)
            stored[matched.chosen[keep]] = True
        self.ingest.held.add(matched.frame, stored, self._order)

    def stored(self, keys: Sequence[str]) -> set[str]:
        """Which of some connection keys the source has stored (by this transaction, or
        before it, after concurrent scans of the source stored theirs)."""
        pairs = self.ingest.pairs(self.source)
        found = known_keys(self.conn, self.source, keys, since=EARLIEST, until=LATEST)
        return found | pairs.seen.intersection(keys)

    def finish(self) -> InputTotals:
        """Write the input's last DNS answers; its counts go into its ``inputs`` row, and its
        rollups and events into theirs, when the transaction ends."""
        self._add_answers(self._sightings.close())
        self.ingest.finished[self.input_id] = self.totals
        return self.totals

    def _add_answers(self, clusters: Sequence[Any]) -> None:
        add_answers(self.conn, clusters, input_id=self.input_id, scan_id=self.ingest.scan_id)


def resumed_input(conn: Connection, flow_input: FlowInput, fmt: str) -> FlowInput:
    """The input, to be read from where an earlier round stopped when it only grew since."""
    if flow_input.name == "-" or fmt == "nfcapd" or is_gzip(flow_input.path):
        return flow_input
    previous = last_input(conn, identity(flow_input.path))
    if previous is None or previous.size >= flow_input.size:
        return flow_input
    if sha256_of(flow_input.path, previous.size) != previous.sha256:
        return flow_input
    return dataclasses.replace(flow_input, start=previous.size)
