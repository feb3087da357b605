"""What the flow pipeline asks the store to pair a connection's two records across inputs.

Whether a record's connection is already stored depends on what other inputs of its source
stored, so the inputs of one source are paired one at a time: on PostgreSQL an input's
transaction takes the source's pairing lock (``pair_alone``) before its first look-up or write
and keeps it to its end; on SQLite the transaction's write lock already does that. The
look-ups then see every earlier input's committed events, and concurrent scans pair a
connection's two directions as one scan reading the same files in some order would.

The look-up of stored connection keys does not depend on the planner's guesses: on PostgreSQL
it is one statement per batch, a nested loop of the batch's keys (one array) into the unique
index on (source, connection_key), planned for its actual values. As a list of 3,000 bound
parameters it had been planned generically after a few runs, scanning the whole unanalysed
``events`` table per batch (~10 s each; a backfill of 10 files of 200,000 records did not end
in 20 minutes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, func, select, text

from chainwatch.store.locks import wait_for
from chainwatch.store.models import Event

#: Keys per look-up on SQLite (below its limit of bound parameters per statement).
_KEY_CHUNK = 3000


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


def known_keys(conn: Connection, source: str, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` the source's stored events have as connection keys."""
    if not keys:
        return set()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT e.connection_key FROM unnest(CAST(:keys AS text[])) AS k(key) "
                "JOIN events e ON e.source = :source AND e.connection_key = k.key"
            ),
            {"keys": list(keys), "source": source},
        )
        return {key for (key,) in rows}
    found: set[str] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        found.update(
            key
            for key in conn.scalars(
                select(Event.connection_key).where(
                    Event.source == source, Event.connection_key.in_(chunk)
                )
            )
            if key is not None
        )
    return found
