"""From normalised flow batches to stored observations.

For each batch: parse both addresses, match both against the watchlists (the watched endpoint
is the local side; when both are watched, the source is), classify the remote side (endpoint
catalogs, then port rules), and produce

- an event per classified record, citing ``file:line`` and hashing the raw record, where the
  two NetFlow records of one connection (A->B and B->A, started within ``PAIR_WINDOW``) count
  once, and a Zeek record counts once per ``uid``;
- where a record carries its own verdict (pcap payloads: ``category``, ``detector``,
  ``confidence``, ``endpoint`` and ``facts`` columns), that verdict before catalogs and ports;
- hourly rollups of every watched record, classified or not (category ``other``): records,
  bytes, packets, events, and the distinct local addresses.

The caller writes each input in one transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, func, select

from chainwatch.categories import coin_of
from chainwatch.classify import ClassifiedBatch, Classifier
from chainwatch.flows.readers import Batch
from chainwatch.store.ingest import add_rollup_addresses, add_rollups, insert_events
from chainwatch.store.models import Event
from chainwatch.watchlists.matcher import ParsedIps, RangeMatcher, parse_ips

#: Two records of one connection in opposite directions start within this many seconds.
PAIR_WINDOW = 60.0
_KEY_CHUNK = 3000


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


def _subset(parsed: ParsedIps, rows: np.ndarray) -> ParsedIps:
    return ParsedIps(parsed.version[rows], parsed.v4[rows], parsed.v6[rows])


def _with_verdicts(result: ClassifiedBatch, w: pa.Table) -> ClassifiedBatch:
    """Verdicts a reader found in the records themselves (pcap payloads) come before catalog
    and port classification, as DESIGN.md orders the detectors."""
    given = np.asarray(w.column("category").is_valid().to_numpy(zero_copy_only=False), bool)
    if not given.any():
        return result
    rows = np.flatnonzero(given)
    take = pa.array(rows)
    category, detector = result.category.copy(), result.detector.copy()
    confidence, endpoint = result.confidence.copy(), result.endpoint.copy()
    category[rows] = w.column("category").take(take).to_pylist()
    detector[rows] = w.column("detector").take(take).to_pylist()
    confidence[rows] = w.column("confidence").take(take).to_numpy()
    endpoint[rows] = w.column("endpoint").take(take).to_pylist()
    return ClassifiedBatch(category, detector, confidence, endpoint)


class InputPipeline:
    """Processes the batches of one input inside its write transaction ``conn``."""

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
        self._seen: set[str] = set()

    def add(self, batch: Batch) -> None:
        totals = self.totals
        totals.bad += batch.bad
        totals.bad_examples.extend(batch.bad_examples)
        table = batch.table
        n = table.num_rows
        if n == 0:
            return
        src = parse_ips(table.column("src_ip"))
        dst = parse_ips(table.column("dst_ip"))
        unparsed = (src.version == 0) | (dst.version == 0)
        if unparsed.any():
            rows = np.flatnonzero(unparsed)
            totals.bad += len(rows)
            totals.bad_examples.extend(
                (int(batch.lines[r]), "an address is not an IPv4 or IPv6 address")
                for r in rows[:20]
            )
        totals.records += n - int(unparsed.sum())
        from_src = self.matcher.match_parsed(src).range_index
        from_dst = self.matcher.match_parsed(dst).range_index
        local_is_src = (from_src >= 0) & ~unparsed
        watched = (local_is_src | (from_dst >= 0)) & ~unparsed
        rows = np.flatnonzero(watched)
        totals.watched += len(rows)
        if len(rows) == 0:
            return
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
            result = _with_verdicts(result, w)
        category = np.where(result.classified, result.category, "other")
        watchlist = self.matcher.range_watchlist_names()[range_index]
        cidr = self.matcher.range_cidrs()[range_index]
        stored = self._events(
            batch,
            rows,
            w,
            result,
            category,
            watchlist,
            cidr,
            local_ip,
            remote_ip,
            local_port,
            remote_port,
            is_src,
        )
        totals.classified += int(result.classified.sum())
        totals.stored += int(stored.sum())
        self._rollups(w, category, watchlist, local_ip, stored)

    def _events(
        self,
        batch: Batch,
        rows: np.ndarray,
        w: pa.Table,
        result: ClassifiedBatch,
        category: np.ndarray,
        watchlist: np.ndarray,
        cidr: np.ndarray,
        local_ip: pa.Array,
        remote_ip: pa.Array,
        local_port: pa.Array,
        remote_port: pa.Array,
        is_src: np.ndarray,
    ) -> np.ndarray:
        """Insert the batch's events; returns, per watched row, whether it became an event.

        Columns are built with Arrow kernels; Python touches each event only to hash its raw
        record and to test its connection key."""
        stored = np.zeros(len(rows), dtype=bool)
        chosen = np.flatnonzero(result.classified)
        if len(chosen) == 0:
            return stored
        ts = w.column("ts").take(pa.array(chosen))
        chosen = chosen[np.asarray(pc.sort_indices(ts).to_numpy())]  # earliest record first
        pick = pa.array(chosen)
        ts = w.column("ts").take(pick)
        proto = w.column("proto").take(pick)
        lport, rport = local_port.take(pick), remote_port.take(pick)
        lip, rip = local_ip.take(pick), remote_ip.take(pick)
        uid = w.column("uid").take(pick)

        def text(values: pa.Array) -> pa.Array:
            return pc.fill_null(pc.cast(values, pa.string()), "None")

        # NetFlow: the two directions of a connection share the local/remote 5-tuple (the
        # watched side is always local) and start within PAIR_WINDOW of each other.
        base = pc.binary_join_element_wise(text(proto), lip, text(lport), rip, text(rport), "|")
        seconds = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False) // 1_000_000
        bucket = (seconds // int(PAIR_WINDOW)).tolist()
        uids = uid.to_pylist()
        key_sets = [
            [f"zeek:{u}"] if u is not None else [f"{b}|{k}", f"{b}|{k - 1}", f"{b}|{k + 1}"]
            for u, b, k in zip(uids, base.to_pylist(), bucket, strict=True)
        ]
        # Only records that start no later than the source's latest stored event (plus the
        # pairing window) can belong to a connection stored by an earlier input.
        horizon = self._stored_until
        known = self._known(
            [
                key
                for keys, second in zip(key_sets, seconds.tolist(), strict=True)
                if horizon is not None and second <= horizon
                for key in keys
            ]
        )
        known.update(k for keys in key_sets for k in keys if k in self._seen)
        keep: list[int] = []
        for i, keys in enumerate(key_sets):
            if any(key in known for key in keys):
                continue  # the same connection: its other direction, here or in an earlier input
            known.add(keys[0])
            keep.append(i)
        if not keep:
            return stored
        kept = chosen[keep]
        take = pa.array(keep)
        row_of = rows[kept]
        endpoint = result.endpoint[kept]
        facts = (
            w.column("facts").take(pa.array(kept)).to_pylist()
            if "facts" in w.column_names
            else [None] * len(keep)
        )
        detail = [
            f'{{"format": "{self.fmt}"'
            + (f', "endpoint": {json.dumps(str(e))}' if e is not None else "")
            + (f', "uid": {json.dumps(u)}' if u is not None else "")
            + (f", {f[1:-1]}" if f and f != "{}" else "")  # payload facts: a JSON object
            + "}"
            for e, u, f in zip(endpoint, uid.take(take).to_pylist(), facts, strict=True)
        ]
        n = len(keep)
        categories = category[kept].astype(str)
        events = pa.table(
            {
                "observed_at": ts.take(take),
                "last_seen_at": pa.nulls(n, ts.type),
                "recorded_at": pa.array([self.now] * n, ts.type),
                "watchlist": pa.array(watchlist[kept].astype(str)),
                "matched_cidr": pa.array(cidr[kept].astype(str)),
                "local_ip": lip.take(take),
                "local_port": lport.take(take),
                "remote_ip": rip.take(take),
                "remote_port": rport.take(take),
                "proto": proto.take(take),
                "direction": pa.array(np.where(is_src[kept], "outbound", "inbound")),
                "category": pa.array(categories),
                "coin": pa.array([coin_of(c) for c in categories], pa.string()),
                "detector": pa.array(result.detector[kept].astype(str)),
                "confidence": pa.array(result.confidence[kept]),
                "source": pa.array([self.source] * n),
                "source_ref": pa.array(
                    [f"{self.name}:{line}" for line in batch.lines[row_of].tolist()]
                ),
                "input_id": pa.array([self.input_id] * n, pa.int64()),
                "scan_id": pa.array([self.scan_id] * n, pa.int64()),
                "bytes": w.column("bytes").take(pa.array(kept)),
                "packets": w.column("packets").take(pa.array(kept)),
                "detail": pa.array(detail),
                "evidence_sha256": pa.array(batch.digests_for(row_of)),
                "connection_key": pa.array([key_sets[i][0] for i in keep]),
            }
        )
        insert_events(self.conn, events)
        self._seen.update(key_sets[i][0] for i in keep)
        stored[kept] = True
        return stored

    @functools.cached_property
    def _stored_until(self) -> int | None:
        """Epoch seconds past which no earlier input's event of this source can pair with a
        record (its latest event's start plus two pairing windows), or None if it has none.
        Asked once per input, before its first events are stored."""
        latest = self.conn.scalar(
            select(func.max(Event.observed_at)).where(Event.source == self.source)
        )
        if latest is None:
            return None
        if latest.tzinfo is None:
            latest = latest.replace(tzinfo=dt.UTC)  # the store keeps UTC
        return int(latest.timestamp() + 2 * PAIR_WINDOW)

    def _known(self, keys: Sequence[str]) -> set[str]:
        """Connection keys already stored by this source in earlier inputs."""
        found: set[str] = set()
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start : start + _KEY_CHUNK]
            found.update(
                key
                for key in self.conn.scalars(
                    select(Event.connection_key).where(
                        Event.source == self.source, Event.connection_key.in_(chunk)
                    )
                ).all()
                if key is not None
            )
        return found

    def _rollups(
        self,
        w: pa.Table,
        category: np.ndarray,
        watchlist: np.ndarray,
        local_ip: pa.Array,
        stored: np.ndarray,
    ) -> None:
        hour = pc.floor_temporal(w.column("ts"), unit="hour")
        frame = pa.table(
            {
                "hour": hour,
                "watchlist": pa.array(watchlist.astype(str)),
                "category": pa.array(category.astype(str)),
                "bytes": w.column("bytes"),
                "packets": w.column("packets"),
                "event": pa.array(stored.astype(np.int64)),
                "local_ip": local_ip,
            }
        )
        keys = ["hour", "watchlist", "category"]
        sums = frame.group_by(keys).aggregate(
            [("bytes", "sum"), ("packets", "sum"), ("event", "sum"), ([], "count_all")]
        )
        rollups = [
            {
                "hour": row["hour"],
                "watchlist": row["watchlist"],
                "category": row["category"],
                "records": row["count_all"],
                "bytes": row["bytes_sum"] or 0,
                "packets": row["packets_sum"] or 0,
                "events": row["event_sum"] or 0,
            }
            for row in sums.to_pylist()
        ]
        add_rollups(self.conn, rollups)
        addresses = frame.group_by([*keys, "local_ip"]).aggregate([])
        add_rollup_addresses(self.conn, addresses)
