"""What the flow pipeline asks the store to pair a connection's two records across inputs.

Whether a record's connection is already stored depends on what other inputs of its source
stored, so the inputs of one source are paired one at a time: on PostgreSQL an input's
transaction takes the source's pairing lock (``pair_alone``) before its first look-up or write
and keeps it to its end; on SQLite the transaction's write lock already does that. The
look-ups then see every earlier input's committed events, and concurrent scans pair a
connection's two directions as one scan reading the same files in some order would.

The look-up of stored connection keys is bounded by time: a record's connection can only have
been stored by an event that started near it, so one range of the index on (source,
observed_at) holds every candidate, whatever the size of the source's history, and the events
table needs no index over every connection key (keeping one up to date cost more than storing
the events). On PostgreSQL it is one statement per batch, planned for its actual values (a
generic plan had scanned the whole unanalysed ``events`` table per batch); on SQLite the keys
are one JSON parameter, so any number of them is one statement and one pass over the range.

Which records start a new connection is decided by ``new_connections``, a function of the
records, what the transaction stored so far (``Pairs``) and a look-up of the keys stored
before it: a scan on a cluster decides it for a unit before its predecessors commit, looking
up their keys in what they decided (``chainwatch.cluster.decide``), while the scan holds the
source's pairing lock for all its units (``pairing_held``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, func, select, text

from chainwatch.flows.connection_keys import PAIR_WINDOW, Connections
from chainwatch.store.locks import hold, release, wait_for
from chainwatch.store.models import Event

if TYPE_CHECKING:
    from chainwatch.store.db import Store

#: Bounds of ``known_keys`` for keys that name a connection whatever its time (Zeek's uids): the
#: look-up then reads all of the source's events.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


#: Which of some keys the source stored before, among its events that started in [since, until].
Lookup = Callable[[Sequence[str], dt.datetime, dt.datetime], set[str]]


@dataclass
class Pairs:
    """What a transaction knows of one source's connections: the keys of those it stored (in
    memory), and, asked once, past when no connection stored before it can pair (the latest
    stored event's start plus two pairing windows; None if the source has none)."""

    seen: set[str] = field(default_factory=set)
    until: int | None = None
    asked: bool = False  # the source's pairing lock taken, ``until`` asked


def horizon(latest: dt.datetime | None) -> int | None:
    """``Pairs.until`` for a source whose latest stored event started at ``latest``."""
    return None if latest is None else int(latest.timestamp() + 2 * PAIR_WINDOW)


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def new_connections(conns: Connections, pairs: Pairs, lookup: Lookup) -> np.ndarray:
    """Which records (earliest first) start a connection not stored yet: compared with each
    other, with the transaction's earlier batches (``pairs.seen``) and with what was stored
    before it (``lookup``); the keys of those kept join ``pairs.seen``."""
    own, before, after = (a.to_pylist() for a in (conns.key, conns.before, conns.after))
    seen = pairs.seen
    # Only records that start no later than the source's latest stored event (plus the
    # pairing window) can belong to a connection stored by an earlier transaction.
    until = pairs.until
    ask = [] if until is None else np.flatnonzero(conns.seconds <= until).tolist()
    keys = sorted({k for i in ask for k in (own[i], before[i], after[i])})
    known = _known(lookup, keys, conns.seconds[ask], until) if ask else set()
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


def _known(lookup: Lookup, keys: Sequence[str], seconds: np.ndarray, until: int | None) -> set[str]:
    """Which of the keys of records starting at ``seconds`` were stored before: a NetFlow
    connection's other record started within two pairing windows of them; a Zeek uid's event
    (its conn.log record, or an ssl/http record seen later in the connection) at any time up
    to the horizon."""
    assert until is not None
    reach = 2 * PAIR_WINDOW
    if keys[-1].startswith("zeek:"):  # sorted: "zeek:" keys come last
        since, last = EARLIEST, dt.datetime.fromtimestamp(until, dt.UTC)
    else:
        since = dt.datetime.fromtimestamp(int(seconds.min()) - reach, dt.UTC)
        last = dt.datetime.fromtimestamp(min(until, int(seconds.max()) + reach), dt.UTC)
    return lookup(keys, since, last)


def stored_lookup(conn: Connection, source: str) -> Lookup:
    """``known_keys`` of the source in what ``conn`` sees, as a ``Lookup``."""
    return lambda keys, since, until: known_keys(conn, source, keys, since=since, until=until)


def custom_plans(conn: Connection) -> None:
    """Plan the look-ups of this transaction for their actual values (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


@contextlib.contextmanager
def pairing_held(store: Store, source: str, scan_id: int | None) -> Iterator[None]:
    """Hold ``source``'s pairing lock until the block ends, on a connection of its own
    (PostgreSQL; on SQLite each transaction's write lock does): a scan on a cluster stores
    its units in parallel transactions that do not each take it, while another scan's inputs
    of the source wait for the whole scan."""
    if store.dialect != "postgresql":
        yield
        return
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        hold(conn, "pairing", source, _why(source), scan_id)
        try:
            yield
        finally:
            release(conn, "pairing", source)


def _why(source: str) -> str:
    return f"which is storing records of {source!r} (a source's inputs are paired one at a time)"


def pair_alone(conn: Connection, source: str) -> None:
    """Take ``source``'s pairing lock for the rest of the transaction (PostgreSQL; waits for
    the scan holding it, and says so when that lasts)."""
    if conn.dialect.name == "postgresql":
        wait_for(conn, "pairing", source, _why(source))
        custom_plans(conn)


def latest_start(conn: Connection, source: str) -> dt.datetime | None:
    """When the source's latest stored event started (UTC), or None if it has none."""
    latest = conn.scalar(select(func.max(Event.observed_at)).where(Event.source == source))
    if latest is not None and latest.tzinfo is None:
        latest = latest.replace(tzinfo=dt.UTC)  # the store keeps UTC
    return latest


def known_keys(
    conn: Connection, source: str, keys: Sequence[str], *, since: dt.datetime, until: dt.datetime
) -> set[str]:
    """Which of ``keys`` the source's stored events that started in [since, until] have as
    connection keys."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("known_keys: since and until must be UTC-aware")
    if not keys:
        return set()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT connection_key FROM events WHERE source = :source"
                " AND observed_at BETWEEN :since AND :until"
                " AND connection_key = ANY(CAST(:keys AS text[]))"
            ),
            {"keys": list(keys), "source": source, "since": since, "until": until},
        )
        return {key for (key,) in rows}
    wanted = func.json_each(json.dumps(list(keys))).table_valued("value")
    found = conn.scalars(
        select(Event.connection_key).where(
            Event.source == source,
            Event.observed_at.between(since, until),
            Event.connection_key.in_(select(wanted.c.value)),
        )
    )
    return {key for key in found if key is not None}
