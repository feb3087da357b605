"""Match and classify: observation batches in, events and rollup rows out, no database.

``match_batch`` is a plain function of (batch, watchlists, catalogs, DNS answers), so it can
run in a reader's thread (``flows.ahead``), another process or another machine. For each
batch it parses both addresses, matches both against the watchlists (the watched endpoint is
the local side; when both are watched, the source is; a dated range counts only for records
whose own time lies in its window), classifies the remote side, and gives back (``Matched``):

- the watched rows for the hourly rollups (``frame``: category ``other`` where unclassified);
- one candidate event per classified row, earliest first, as an Arrow table of the event
  columns the store does not fix per input (``events``), citing ``name:line`` (or the
  source's own ``Batch.refs``) and hashing the raw record;
- what identifies each event's connection (``connections``), so that the store counts the
  two NetFlow records of one connection, or a Zeek uid, once (``chainwatch.store.ingest``);
- the DNS answers the source found (``Batch.answers``), given to the classifier before the
  batch's records are classified, cited in the ``detail`` (``resolution``) of every event
  whose endpoint matched through one, and handed on for the store.

The detector precedence of DESIGN.md (payload > endpoint > node-peer > port) is decided here
alone (``with_verdicts``): the classifier gives catalog endpoints before port rules
(``chainwatch.classify``); a record that carries its own verdict (a capture's payload or TLS
server name, a Zeek ssl/http or Suricata verdict, a node's peer: the optional verdict columns
of ``chainwatch.observations``) keeps it before both, but a pool towards a catalog endpoint of
a coin takes the endpoint's coin. The optional event overrides (``direction``, ``detail``,
``connection_key``) replace what would be computed for a flow's record (a null key is
computed). A ``node-peer`` verdict is about the record's source (the peer): its destination
is the node that reported it, never the watched side. A record with its own verdict may lack
its destination: its remote is unknown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch import coins
from chainwatch.categories import POOLS, Detector, coin_of, pool_category
from chainwatch.classify import ClassifiedBatch, Classifier
from chainwatch.flows.connection_keys import Connections
from chainwatch.flows.detail import details
from chainwatch.observations import Batch
from chainwatch.passive_dns import Answer, unique
from chainwatch.watchlists.matcher import ParsedIps, RangeMatcher, parse_ips

#: Rows with a bad address named per batch (the rest are counted).
_BAD_SHOWN = 20


@dataclass
class Matched:
    """One batch, matched and classified: its counts, its watched rows for the rollups
    (``frame``: hour, watchlist, category, bytes, packets, local_ip), and, for the classified
    ones (``chosen`` rows of ``frame``, earliest first), their connections and events."""

    records: int = 0
    bytes_read: int = 0
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    classified: int = 0
    frame: pa.Table | None = None
    chosen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: the batch's rows that ``frame`` holds, in order
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    connections: Connections | None = None
    events: pa.Table | None = None
    answers: list[Answer] = field(default_factory=list)
    #: which ``connections`` start one not stored yet, when decided before the batch is
    #: stored (a cluster's unit: ``chainwatch.cluster.decide``); else the store decides
    keep: np.ndarray | None = None


def _pick(mask: np.ndarray, a: ParsedIps, b: ParsedIps) -> ParsedIps:
    return ParsedIps(
        version=np.where(mask, a.version, b.version),
        v4=np.where(mask, a.v4, b.v4),
        v6=np.where(mask, a.v6, b.v6),
    )


def _subset(parsed: ParsedIps, rows: np.ndarray) -> ParsedIps:
    return ParsedIps(parsed.version[rows], parsed.v4[rows], parsed.v6[rows])


def _mapped(values: pa.Array, function: Callable[[str], str | None]) -> pa.Array:
    """``function`` of each text, computed once per distinct one (categories are few)."""
    encoded = pc.dictionary_encode(values)
    mapped = [function(str(v)) for v in encoded.dictionary.to_pylist()]
    return pa.array(mapped, pa.string()).take(encoded.indices)


def _texts(values: np.ndarray) -> pa.Array:
    """``str`` of each value, as numpy's ``astype(str)`` gives it (None as "None"), without
    its fixed-width copy: the values are mostly text already."""
    try:
        texts = pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array(values.astype(str))
    return pc.fill_null(texts, "None") if texts.null_count else texts


def match_batch(
    batch: Batch,
    *,
    matcher: RangeMatcher,
    classifier: Classifier,
    source: str,
    name: str,
    fmt: str,
) -> Matched:
    """Match and classify one batch of ``name`` (an input of ``source`` in format ``fmt``).
    Batches of one input go through in order (the classifier learns each batch's DNS
    answers before its records)."""
    table = batch.table
    n = table.num_rows
    matched = Matched(
        bad=batch.bad, bad_examples=list(batch.bad_examples), bytes_read=batch.bytes_read
    )
    if batch.answers:  # before the records: a capture's answer precedes its connection
        matched.answers = unique(batch.answers)
        classifier.add_answers(matched.answers)
    if n == 0:
        return matched
    src = parse_ips(table.column("src_ip"))
    dst = parse_ips(table.column("dst_ip"))
    unparsed = (src.version == 0) | ((dst.version == 0) & ~_unknown_remote(table))
    if unparsed.any():
        rows = np.flatnonzero(unparsed)
        matched.bad += len(rows)
        matched.bad_examples.extend(
            (int(batch.lines[r]), "an address is not an IPv4 or IPv6 address")
            for r in rows[:_BAD_SHOWN]
        )
    matched.records = n - int(unparsed.sum())
    from_src = matcher.match_parsed(src, table.column("ts")).range_index
    from_dst = matcher.match_parsed(dst, table.column("ts")).range_index
    from_dst[_reported_by_dst(table)] = -1
    local_is_src = (from_src >= 0) & ~unparsed
    watched = (local_is_src | (from_dst >= 0)) & ~unparsed
    rows = np.flatnonzero(watched)
    if len(rows) == 0:
        return matched
    matched.rows = rows
    is_src = local_is_src[rows]
    range_index = np.where(is_src, from_src[rows], from_dst[rows])
    w = table.take(pa.array(rows))
    mask = pa.array(is_src)
    local_ip = pc.if_else(mask, w.column("src_ip"), w.column("dst_ip"))
    remote_ip = pc.if_else(mask, w.column("dst_ip"), w.column("src_ip"))
    local_port = pc.if_else(mask, w.column("src_port"), w.column("dst_port"))
    remote_port = pc.if_else(mask, w.column("dst_port"), w.column("src_port"))
    remote = _subset(_pick(local_is_src, dst, src), rows)
    result = classifier.classify(remote, remote_port, w.column("ts"))
    facts = w.column("facts").combine_chunks() if "facts" in w.column_names else None
    if "category" in w.column_names:
        result, facts = with_verdicts(result, w)
    category = np.where(result.classified, result.category, "other")
    watchlist = matcher.range_watchlist_names()[range_index]
    watchlist_text, category_text = _texts(watchlist), _texts(category)
    matched.frame = pa.table(
        {
            "hour": pc.floor_temporal(w.column("ts"), unit="hour"),
            "watchlist": watchlist_text,
            "category": category_text,
            "bytes": w.column("bytes"),
            "packets": w.column("packets"),
            "local_ip": local_ip,
        }
    )
    chosen = np.flatnonzero(result.classified)
    matched.classified = len(chosen)
    if len(chosen) == 0:
        return matched
    ts = w.column("ts").take(pa.array(chosen))
    chosen = chosen[np.asarray(pc.sort_indices(ts).to_numpy())]  # earliest record first
    pick = pa.array(chosen)
    ts = w.column("ts").take(pick)
    proto = w.column("proto").take(pick)
    lport, rport = local_port.take(pick), remote_port.take(pick)
    lip, rip = local_ip.take(pick), remote_ip.take(pick)
    uid = w.column("uid").take(pick)
    seconds = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False) // 1_000_000
    connections = Connections.of(proto, lip, lport, rip, rport, uid, seconds)
    given_key = _given(w, "connection_key", pick)
    if given_key is not None:  # the source names the connection itself (a node's peer)
        connections = _named(connections, given_key)
    matched.connections = connections
    matched.chosen = chosen
    row_of = rows[chosen]
    k = len(chosen)
    cidr = matcher.cidrs_of(range_index)
    direction = pa.array(np.where(is_src[chosen], "outbound", "inbound"))
    detail = details(
        fmt,
        result.endpoint[chosen],
        result.answer[chosen],
        uid,
        None if facts is None else facts.take(pick),
    )
    matched.events = pa.table(
        {
            "observed_at": ts,
            "watchlist": watchlist_text.take(pick),
            "matched_cidr": _texts(cidr[chosen]),
            "local_ip": lip,
            "local_port": lport,
            "remote_ip": rip,
            "remote_port": rport,
            "proto": proto,
            "direction": _given(w, "direction", pick, direction),
            "category": category_text.take(pick),
            "coin": _mapped(category_text.take(pick), coin_of),
            "detector": _texts(result.detector[chosen]),
            "confidence": pa.array(result.confidence[chosen]),
            "source": pa.array([source] * k, pa.string()),
            "source_ref": _refs(batch, name, row_of),
            "bytes": w.column("bytes").take(pick),
            "packets": w.column("packets").take(pick),
            "detail": _given(w, "detail", pick, detail),
            "evidence_sha256": pa.array(batch.digests_for(row_of), pa.string()),
            "connection_key": connections.key,
        }
    )
    return matched


def _reported_by_dst(table: pa.Table) -> np.ndarray:
    """Rows whose destination is the node that reported the source (a ``node-peer``
    verdict): only their source can be the watched side."""
    if "detector" not in table.column_names:
        return np.zeros(table.num_rows, bool)
    peer = pc.equal(table.column("detector"), str(Detector.NODE_PEER))
    return np.asarray(pc.fill_null(peer, False).to_numpy(zero_copy_only=False), bool)


def _unknown_remote(table: pa.Table) -> np.ndarray:
    """Rows whose destination is missing but that carry their own verdict: the remote is
    unknown (a node not saying its own address on a connection), not a bad address."""
    if "category" not in table.column_names:
        return np.zeros(table.num_rows, bool)
    vouched = table.column("category").is_valid()
    missing = table.column("dst_ip").is_null()
    return np.asarray(pc.and_(vouched, missing).to_numpy(zero_copy_only=False), bool)


def _given(
    table: pa.Table, column: str, pick: pa.Array, computed: pa.Array | None = None
) -> pa.Array | None:
    """The source's own values of an event column for the picked rows (an event override of
    ``chainwatch.observations``), else ``computed``."""
    if column not in table.column_names:
        return computed
    values = table.column(column).take(pick)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _named(connections: Connections, key: pa.Array) -> Connections:
    """Connections whose records the source named (a key, not null) are that key alone, as a
    Zeek uid is: the same key is the same connection, whatever its time."""
    named = pc.is_valid(key)

    def keyed(values: pa.Array) -> pa.Array:
        return pc.if_else(named, key, values)

    return Connections(
        keyed(connections.group),
        keyed(connections.key),
        keyed(connections.before),
        keyed(connections.after),
        connections.seconds,
    )


def _refs(batch: Batch, name: str, rows: np.ndarray) -> pa.Array:
    """Each event's ``source_ref``: the source's own (``Batch.refs``), else ``name:line``."""
    if batch.refs is not None:
        return pa.array([batch.refs[r] for r in rows.tolist()], pa.string())
    return pc.binary_join_element_wise(name, pc.cast(pa.array(batch.lines[rows]), pa.string()), ":")


def with_verdicts(result: ClassifiedBatch, records: pa.Table) -> tuple[ClassifiedBatch, pa.Array]:
    """The detector precedence: verdicts a source found in the records themselves (the
    ``category``, ``detector``, ``confidence``, ``endpoint`` and ``facts`` columns, null
    category where none) come before catalog and port classification (``result``). Only a
    pool's coin is the catalog's when the remote is a catalog endpoint of a coin: such rows
    get ``<coin>-pool``, the endpoint's name, and ``coin_from: endpoint`` in their facts (with
    the payload's own answer as ``payload_coin`` when it differed). Returns the combined
    result and the facts column, updated."""
    facts = records.column("facts").combine_chunks()
    given = np.asarray(records.column("category").is_valid().to_numpy(zero_copy_only=False), bool)
    if not given.any():
        return result, facts
    rows = np.flatnonzero(given)
    take = pa.array(rows)
    category, detector = result.category.copy(), result.detector.copy()
    confidence, endpoint = result.confidence.copy(), result.endpoint.copy()
    answer = result.answer.copy()
    answer[rows] = None  # the record's own verdict, not an endpoint's
    category[rows] = records.column("category").take(take).to_pylist()
    detector[rows] = records.column("detector").take(take).to_pylist()
    confidence[rows] = records.column("confidence").take(take).to_numpy()
    endpoint[rows] = records.column("endpoint").take(take).to_pylist()
    texts: list[str | None] | None = None
    for row in rows.tolist():
        catalog = result.category[row]
        coin = coin_of(catalog) if result.detector[row] == Detector.ENDPOINT else None
        if coin is None or category[row] not in POOLS:
            continue
        if texts is None:
            texts = facts.to_pylist()
        stated = json.loads(texts[row] or "{}")
        if coin_of(str(category[row])) not in (None, coin):
            stated["payload_coin"] = coin_of(str(category[row]))
        stated["coin_from"] = "endpoint"
        texts[row] = json.dumps(stated, ensure_ascii=False, sort_keys=True)
        category[row] = pool_category(coin)
        confidence[row] = coins.CONFIDENCE["endpoint"]
        endpoint[row] = result.endpoint[row]
        answer[row] = result.answer[row]
    if texts is not None:
        facts = pa.array(texts, pa.string())
    return ClassifiedBatch(category, detector, confidence, endpoint, answer), facts


def covered(matcher: RangeMatcher, addresses: Sequence[bytes]) -> list[bool]:
    """Whether each packed address (4 or 16 bytes, network order) lies in a watched range at
    some time: the prefilter of a source that sees addresses before it has records (a
    capture's packets); ``match_batch`` matches its records exactly, at their times."""
    found = dict.fromkeys(addresses, False)
    for width, version in ((4, 4), (16, 6)):
        some = [a for a in found if len(a) == width]
        if not some:
            continue
        if version == 4:
            keys = np.frombuffer(b"".join(some), dtype=">u4").astype(np.uint64)
        else:
            keys = np.array(some, dtype="S16")
        found.update(zip(some, matcher.covers_ints(keys, version).tolist(), strict=True))
    return [found[a] for a in addresses]
