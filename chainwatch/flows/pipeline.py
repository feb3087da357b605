"""From normalised flow batches to stored observations.

For each batch: parse both addresses, match both against the watchlists (the watched endpoint
is the local side; when both are watched, the source is), classify the remote side (endpoint
catalogs, then port rules), and produce

- an event per classified record, citing ``file:line`` and hashing the raw record, where the
  two NetFlow records of one connection (A->B and B->A, started within ``PAIR_WINDOW``) count
  once, and a Zeek record counts once per ``uid``;
- where a record carries its own verdict (pcap payloads: ``category``, ``detector``,
  ``confidence``, ``endpoint`` and ``facts`` columns), that verdict before catalogs and ports,
  but a catalog endpoint's coin before the payload's (``classify.with_verdicts``);
- hourly rollups of every watched record, classified or not (category ``other``): records,
  bytes, packets, events, and the distinct local addresses;
- the DNS answers a reader found (``Batch.answers``) given to the classifier before the
  batch's records are classified, stored in the passive DNS store with the input, and cited in
  the ``detail`` (``resolution``) of every event whose endpoint matched through one.

The caller writes each input in one transaction and calls ``finish`` at its end. The look-ups
of earlier inputs' connections, and the lock that makes a source's inputs pair one at a time
under concurrent scans, are in ``chainwatch.store.pairing``.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from chainwatch.categories import coin_of
from chainwatch.classify import Classifier, with_verdicts
from chainwatch.flows.connection_keys import PAIR_WINDOW, Connections
from chainwatch.flows.detail import details
from chainwatch.flows.readers import Batch
from chainwatch.passive_dns import Answer, Sightings, unique
from chainwatch.store.pairing import known_keys, latest_start, pair_alone
from chainwatch.store.resolutions import add_answers
from chainwatch.store.writes import (
    add_rollup_addresses,
    add_rollups,
    event_rows,
    insert_event_rows,
)
from chainwatch.watchlists.matcher import ParsedIps, RangeMatcher, parse_ips


@dataclass
class InputTotals:
    records: int = 0
    watched: int = 0
    classified: int = 0
    stored: int = 0
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)


def _pick(mask: np.ndarray, a: ParsedIps, b: ParsedIps) -> ParsedIps:
    return ParsedIps(
        version=np.where(mask, a.version, b.version),
        v4=np.where(mask, a.v4, b.v4),
        v6=np.where(mask, a.v6, b.v6),
    )


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _subset(parsed: ParsedIps, rows: np.ndarray) -> ParsedIps:
    return ParsedIps(parsed.version[rows], parsed.v4[rows], parsed.v6[rows])


_ROLLUP_KEYS = ["hour", "watchlist", "category"]
#: Distinct (hour, watchlist, category, address) rows held per input before writing some.
_ADDRESSES_HELD = 1_000_000


def _distinct(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables).group_by([*_ROLLUP_KEYS, "local_ip"]).aggregate([])


def _mapped(values: np.ndarray, function: Callable[[str], str | None]) -> pa.Array:
    """``function`` of each value, computed once per distinct value (categories are few)."""
    distinct, index = np.unique(values.astype(str), return_inverse=True)
    return pa.array([function(str(v)) for v in distinct], pa.string()).take(pa.array(index))


@dataclass
class Prepared:
    """One batch as ``InputPipeline.prepare`` leaves it for ``write``: its counts, its watched
    rows for the rollups (``frame``), and, for the classified ones (``chosen`` rows of
    ``frame``, earliest first), their connections and event rows."""

    records: int = 0
    bytes_read: int = 0
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    classified: int = 0
    frame: pa.Table | None = None
    chosen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    connections: Connections | None = None
    events: list[tuple[Any, ...]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


class InputPipeline:
    """Processes the batches of one input inside its write transaction ``conn``: ``prepare``
    each batch (in any thread), ``write`` it (in the transaction's thread), then ``finish``."""

    def __init__(
        self,
        conn: Connection,
        *,
        matcher: RangeMatcher,
        classifier: Classifier,
        source: str,
        name: str,
        fmt: str,
        input_id: int,
        scan_id: int,
        now: dt.datetime,
    ) -> None:
        self.conn = conn
        self.matcher = matcher
        self.classifier = classifier
        self.source = source
        self.name = name
        self.fmt = fmt
        self.input_id = input_id
        self.scan_id = scan_id
        self.now = now
        self.totals = InputTotals()
        self.dialect = conn.dialect.name
        # Columns the same for all the input's events: written once per insert, not per row.
        self._fixed = {
            "last_seen_at": None,
            "recorded_at": now,
            "input_id": input_id,
            "scan_id": scan_id,
        }
        self._seen: set[str] = set()  # connection keys stored from this input
        self._pairing = False  # whether this transaction pairs the source's records now
        self._sums: list[pa.Table] = []  # per batch: rollup totals
        self._addresses: list[pa.Table] = []  # per batch: distinct local addresses
        self._sightings = Sightings()  # the input's DNS answers, folded for the store

    def prepare(self, batch: Batch) -> Prepared:
        """Everything about a batch that needs no database: match, classify, and build the
        candidate events and the rollup rows. Safe to run in another thread than ``write``
        (one batch at a time, in order)."""
        table = batch.table
        n = table.num_rows
        prepared = Prepared(
            bad=batch.bad, bad_examples=list(batch.bad_examples), bytes_read=batch.bytes_read
        )
        if batch.answers:  # before the records: a capture's answer precedes its connection
            prepared.answers = unique(batch.answers)
            self.classifier.add_answers(prepared.answers)
        if n == 0:
            return prepared
        src = parse_ips(table.column("src_ip"))
        dst = parse_ips(table.column("dst_ip"))
        unparsed = (src.version == 0) | (dst.version == 0)
        if unparsed.any():
            rows = np.flatnonzero(unparsed)
            prepared.bad += len(rows)
            prepared.bad_examples.extend(
                (int(batch.lines[r]), "an address is not an IPv4 or IPv6 address")
                for r in rows[:20]
            )
        prepared.records = n - int(unparsed.sum())
        # A dated range counts only for records whose own time lies in its window.
        from_src = self.matcher.match_parsed(src, table.column("ts")).range_index
        from_dst = self.matcher.match_parsed(dst, table.column("ts")).range_index
        local_is_src = (from_src >= 0) & ~unparsed
        watched = (local_is_src | (from_dst >= 0)) & ~unparsed
        rows = np.flatnonzero(watched)
        if len(rows) == 0:
            return prepared
        is_src = local_is_src[rows]
        range_index = np.where(is_src, from_src[rows], from_dst[rows])
        take = pa.array(rows)
        w = table.take(take)
        mask = pa.array(is_src)
        local_ip = pc.if_else(mask, w.column("src_ip"), w.column("dst_ip"))
        remote_ip = pc.if_else(mask, w.column("dst_ip"), w.column("src_ip"))
        local_port = pc.if_else(mask, w.column("src_port"), w.column("dst_port"))
        remote_port = pc.if_else(mask, w.column("dst_port"), w.column("src_port"))
        remote = _subset(_pick(local_is_src, dst, src), rows)
        result = self.classifier.classify(remote, remote_port, w.column("ts"))
        if "category" in w.column_names:
            result, facts = with_verdicts(result, w)
            w = w.set_column(w.schema.get_field_index("facts"), "facts", facts)
        category = np.where(result.classified, result.category, "other")
        watchlist = self.matcher.range_watchlist_names()[range_index]
        prepared.frame = pa.table(
            {
                "hour": pc.floor_temporal(w.column("ts"), unit="hour"),
                "watchlist": pa.array(watchlist.astype(str)),
                "category": pa.array(category.astype(str)),
                "bytes": w.column("bytes"),
                "packets": w.column("packets"),
                "local_ip": local_ip,
            }
        )
        chosen = np.flatnonzero(result.classified)
        prepared.classified = len(chosen)
        if len(chosen) == 0:
            return prepared
        ts = w.column("ts").take(pa.array(chosen))
        chosen = chosen[np.asarray(pc.sort_indices(ts).to_numpy())]  # earliest record first
        pick = pa.array(chosen)
        ts = w.column("ts").take(pick)
        proto = w.column("proto").take(pick)
        lport, rport = local_port.take(pick), remote_port.take(pick)
        lip, rip = local_ip.take(pick), remote_ip.take(pick)
        uid = w.column("uid").take(pick)
        seconds = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False) // 1_000_000
        prepared.connections = Connections.of(proto, lip, lport, rip, rport, uid, seconds)
        prepared.chosen = chosen
        row_of = rows[chosen]
        k = len(chosen)
        cidr = self.matcher.cidrs_of(range_index)
        events = pa.table(
            {
                "observed_at": ts,
                "watchlist": pa.array(watchlist[chosen].astype(str)),
                "matched_cidr": pa.array(cidr[chosen].astype(str)),
                "local_ip": lip,
                "local_port": lport,
                "remote_ip": rip,
                "remote_port": rport,
                "proto": proto,
                "direction": pa.array(np.where(is_src[chosen], "outbound", "inbound")),
                "category": pa.array(category[chosen].astype(str)),
                "coin": _mapped(category[chosen], coin_of),
                "detector": pa.array(result.detector[chosen].astype(str)),
                "confidence": pa.array(result.confidence[chosen]),
                "source": pa.array([self.source] * k),
                "source_ref": pc.binary_join_element_wise(
                    self.name, pc.cast(pa.array(batch.lines[row_of]), pa.string()), ":"
                ),
                "bytes": w.column("bytes").take(pick),
                "packets": w.column("packets").take(pick),
                "detail": details(
                    self.fmt,
                    result.endpoint[chosen],
                    result.answer[chosen],
                    uid,
                    w.column("facts").take(pick) if "facts" in w.column_names else None,
                ),
                "evidence_sha256": pa.array(batch.digests_for(row_of)),
                "connection_key": prepared.connections.key,
            }
        )
        prepared.events = event_rows(events, self.dialect, fixed=self._fixed)
        return prepared

    def write(self, prepared: Prepared) -> None:
        """Store a prepared batch: the events of connections not stored yet, and the rollups
        (held until ``finish``). Runs in the thread that owns the transaction."""
        if not self._pairing:
            self._pair_alone()
        totals = self.totals
        totals.bad += prepared.bad
        totals.bad_examples.extend(prepared.bad_examples)
        totals.records += prepared.records
        if prepared.answers:
            self._add_answers(self._sightings.add(prepared.answers))
        if prepared.frame is None:
            return
        totals.watched += prepared.frame.num_rows
        totals.classified += prepared.classified
        stored = np.zeros(prepared.frame.num_rows, dtype=bool)
        if prepared.connections is not None:
            keep = self._new_connections(prepared.connections)
            rows = list(itertools.compress(prepared.events, keep))
            totals.stored += insert_event_rows(self.conn, rows, fixed=self._fixed)
            stored[prepared.chosen[keep]] = True
        self._rollups(prepared.frame, stored)

    def _pair_alone(self) -> None:
        """Pair this source's records alone until the transaction ends, from before the
        first look-up or write (so no row it locks can be one that a writer waiting for it
        holds)."""
        pair_alone(self.conn, self.source)
        self._pairing = True

    def _add_answers(self, clusters: Sequence[Any]) -> None:
        add_answers(self.conn, clusters, input_id=self.input_id, scan_id=self.scan_id)

    def _new_connections(self, conns: Connections) -> np.ndarray:
        """Which records (earliest first) start a connection not stored yet: compared with
        each other, with earlier batches of this input (in memory) and with earlier inputs of
        this source (in the store)."""
        own, before, after = (a.to_pylist() for a in (conns.key, conns.before, conns.after))
        seen = self._seen
        # Only records that start no later than the source's latest stored event (plus the
        # pairing window) can belong to a connection stored by an earlier input.
        horizon = self._stored_until
        ask = [] if horizon is None else np.flatnonzero(conns.seconds <= horizon).tolist()
        known = self._known(
            sorted({k for i in ask for k in (own[i], before[i], after[i])}), conns.seconds[ask]
        )
        known.update(seen.intersection(own), seen.intersection(before), seen.intersection(after))
        # A record needs a closer look only if its connection may be known or shows up more
        # than once in this batch; any other record starts a connection of its own.
        group = pc.dictionary_encode(_array(conns.group)).indices.to_numpy(zero_copy_only=False)
        repeated = np.bincount(group)[group] > 1
        keep = np.ones(len(own), dtype=bool)
        for i in range(len(own)) if known else np.flatnonzero(repeated).tolist():
            if own[i] in known or before[i] in known or after[i] in known:
                keep[i] = False  # the same connection: its other direction
            elif repeated[i]:
                known.add(own[i])
        seen.update(itertools.compress(own, keep))
        return keep

    @functools.cached_property
    def _stored_until(self) -> int | None:
        """Epoch seconds past which no earlier input's event of this source can pair with a
        record (its latest event's start plus two pairing windows), or None if it has none.
        Asked once per input, before its first events are stored."""
        latest = latest_start(self.conn, self.source)
        return None if latest is None else int(latest.timestamp() + 2 * PAIR_WINDOW)

    def _known(self, keys: Sequence[str], seconds: np.ndarray) -> set[str]:
        """Connection keys already stored by this source in earlier inputs, for records that
        started at ``seconds``: a NetFlow connection's other direction started within two
        pairing windows of it, a Zeek uid's event (a conn.log record, or an ssl/http record
        seen later in the connection) not before it, and nothing stored after the horizon."""
        if not keys:
            return set()
        horizon = self._stored_until
        assert horizon is not None
        zeek = keys[-1].startswith("zeek:")  # sorted: "zeek:" keys come last
        until = horizon if zeek else min(horizon, int(seconds.max() + 2 * PAIR_WINDOW))
        return known_keys(
            self.conn,
            self.source,
            keys,
            since=dt.datetime.fromtimestamp(int(seconds.min() - 2 * PAIR_WINDOW), dt.UTC),
            until=dt.datetime.fromtimestamp(until, dt.UTC),
        )

    def _rollups(self, frame: pa.Table, stored: np.ndarray) -> None:
        """Add the batch to the input's rollups, kept in memory until ``finish``."""
        frame = frame.append_column("event", pa.array(stored.astype(np.int64)))
        sums = frame.group_by(_ROLLUP_KEYS).aggregate(
            [("bytes", "sum"), ("packets", "sum"), ("event", "sum"), ([], "count_all")]
        )
        self._sums.append(
            sums.rename_columns(
                {"bytes_sum": "bytes", "packets_sum": "packets", "event_sum": "events"}
                | {"count_all": "records"}
            )
        )
        self._addresses.append(frame.group_by([*_ROLLUP_KEYS, "local_ip"]).aggregate([]))
        if sum(len(t) for t in self._addresses) > _ADDRESSES_HELD:
            addresses = _distinct(self._addresses)
            self._addresses = [addresses]
            if len(addresses) > _ADDRESSES_HELD // 2:  # still many: write, hold memory flat
                add_rollup_addresses(self.conn, addresses)
                self._addresses = []

    def finish(self) -> None:
        """Write the input's rollups and its last DNS answers (its transaction is still
        open)."""
        self._add_answers(self._sightings.close())
        if self._sums:
            sums = (
                pa.concat_tables(self._sums)
                .group_by(_ROLLUP_KEYS)
                .aggregate([(c, "sum") for c in ("records", "bytes", "packets", "events")])
            )
            add_rollups(
                self.conn,
                [
                    {
                        "hour": row["hour"],
                        "watchlist": row["watchlist"],
                        "category": row["category"],
                        **{
                            c: row[f"{c}_sum"] or 0
                            for c in ("records", "bytes", "packets", "events")
                        },
                    }
                    for row in sums.to_pylist()
                ],
            )
        if self._addresses:
            add_rollup_addresses(self.conn, _distinct(self._addresses))
        self._sums, self._addresses = [], []
