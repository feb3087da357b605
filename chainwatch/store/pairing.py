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
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import Connection, func, select, text

from chainwatch.store.locks import wait_for
from chainwatch.store.models import Event

#: Bounds of ``known_keys`` for keys that name a connection whatever its time (Zeek's uids): the
#: look-up then reads all of the source's events.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def pair_alone(conn: Connection, source: str) -> None:
    """Take ``source``'s pairing lock for the rest of the transaction (PostgreSQL; waits for
    the scan holding it, and says so when that lasts)."""
    if conn.dialect.name == "postgresql":
        wait_for(
            conn,
            "pairing",
            source,
            f"which is storing records of {source!r} (a source's inputs are paired one at a time)",
        )
        conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


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
