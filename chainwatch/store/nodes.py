"""Writes of what node watchers see: live peer connections and address-book entries.

A live connection is one event for as long as it lasts. The first poll that sees it inserts
the event (and counts it once in the hourly rollups, in the hour the connection began); later
polls update the same row, found by ``(source, connection_key)``: its ``last_seen_at``, byte
count, detail and evidence hash. A new connection has a new key and so a new event.

Address-book entries are kept per ``(source, ip, port)``: first seen, last seen, last
recorded. They are not events and never reach the rollups: a node hearing of an address is
weaker evidence than a node talking to it.

Both writes are upserts, safe on SQLite and PostgreSQL when two scans of one node overlap,
and run inside the one ingest path's transaction (``chainwatch.store.ingest.Ingest``): the
events come from the match stage (``chainwatch.match``) as an Arrow table, like every other
source's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, and_, bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from chainwatch.store.ingest import Ingest
from chainwatch.store.locks import wait_for
from chainwatch.store.models import AddressBookEntry, Event
from chainwatch.store.writes import EVENT_COLUMNS, add_rollup_addresses, add_rollups

#: Live connections' events, the only ones with a last-seen time: the condition of the
#: partial unique index on (source, connection_key), so their look-ups can use it.
_LIVE = Event.last_seen_at.isnot(None)
#: What a later poll refreshes on a live connection's event.
_EVENT_REFRESH = ("last_seen_at", "bytes", "packets", "detail", "evidence_sha256")
BOOK_COLUMNS: tuple[str, ...] = (
    "source",
    "source_ref",
    "coin",
    "watchlist",
    "matched_cidr",
    "ip",
    "port",
    "list_name",
    "last_seen_at",
    "first_recorded_at",
    "last_recorded_at",
    "scan_id",
    "detail",
)
_BOOK_REFRESH = (
    "source_ref",
    "watchlist",
    "matched_cidr",
    "list_name",
    "last_seen_at",
    "last_recorded_at",
    "detail",
)
_IN_CHUNK = 500


@dataclass(frozen=True)
class UpsertCounts:
    new: int = 0
    updated: int = 0


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _last_by(rows: Iterable[dict[str, Any]], key: Any) -> list[dict[str, Any]]:
    """One row per key, the last given (a node listing a connection twice in one answer)."""
    return list({key(row): row for row in rows}.values())


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def store_peers(ingest: Ingest, events: pa.Table | None, *, seen_at: dt.datetime) -> UpsertCounts:
    """Store live connections (the match stage's events: ``EVENT_COLUMNS`` but the fixed
    ones, ``connection_key`` set, ``detail`` JSON text) seen at ``seen_at``: insert the ones
    not stored yet, refresh the others."""
    if events is None:
        return UpsertCounts()
    fixed = {
        "last_seen_at": seen_at,
        "recorded_at": seen_at,
        "input_id": None,
        "scan_id": ingest.scan_id,
    }
    rows = [
        # Parsed back so the JSON column writes it as it writes any dict (the same text).
        row | fixed | {"detail": None if row["detail"] is None else json.loads(row["detail"])}
        for row in events.to_pylist()
    ]
    return _upsert_peers(ingest.conn, rows)


def _upsert_peers(conn: Connection, rows: Sequence[dict[str, Any]]) -> UpsertCounts:
    rows = _last_by(rows, lambda r: (r["source"], r["connection_key"]))
    if not rows:
        return UpsertCounts()
    missing = [c for c in EVENT_COLUMNS if c not in rows[0]]
    if missing:
        raise ValueError(f"event rows lack {missing}")
    # Which connections are new decides what the rollups count: one writer per source decides
    # (a scan polling the node beside a `chainwatch run` polling it too).
    for source in sorted({r["source"] for r in rows}):
        wait_for(conn, "pairing", source, f"which is storing peers of {source!r}")
    wanted = [(r["source"], r["connection_key"]) for r in rows]
    stored: set[tuple[str, str | None]] = set()
    for chunk in _chunks(wanted):
        found = conn.execute(
            select(Event.source, Event.connection_key).where(
                tuple_(Event.source, Event.connection_key).in_(chunk),
                _LIVE,
            )
        )
        stored.update((source, key) for source, key in found)
    new = [r for r in rows if (r["source"], r["connection_key"]) not in stored]
    old = [r for r in rows if (r["source"], r["connection_key"]) in stored]

    if new:
        statement = _insert(conn)(Event)
        # Another scan of the same node may have inserted it meanwhile: then refresh instead.
        statement = statement.on_conflict_do_update(
            index_elements=["source", "connection_key"],
            index_where=Event.last_seen_at.isnot(None),
            set_={name: getattr(statement.excluded, name) for name in _EVENT_REFRESH},
        )
        conn.execute(statement, [{c: r[c] for c in EVENT_COLUMNS} for r in new])
        _count_in_rollups(conn, new)
    if old:
        conn.execute(
            update(Event)
            .where(
                and_(
                    Event.source == bindparam("b_source"),
                    Event.connection_key == bindparam("b_key"),
                    _LIVE,
                )
            )
            .values({name: bindparam(f"b_{name}") for name in _EVENT_REFRESH}),
            [
                {"b_source": r["source"], "b_key": r["connection_key"]}
                | {f"b_{name}": r[name] for name in _EVENT_REFRESH}
                for r in old
            ],
        )
    return UpsertCounts(new=len(new), updated=len(old))


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _count_in_rollups(conn: Connection, events: Sequence[dict[str, Any]]) -> None:
    """Each new connection is one record and one event in the hour it began."""
    totals: dict[tuple[dt.datetime, str, str], list[int]] = defaultdict(lambda: [0, 0])
    addresses: set[tuple[dt.datetime, str, str, str]] = set()
    for event in events:
        key = (_hour(event["observed_at"]), event["watchlist"], event["category"])
        totals[key][0] += 1
        totals[key][1] += event["bytes"] or 0
        addresses.add((*key, event["local_ip"]))
    add_rollups(
        conn,
        [
            {
                "hour": hour,
                "watchlist": watchlist,
                "category": category,
                "records": count,
                "bytes": size,
                "packets": 0,
                "events": count,
            }
            for (hour, watchlist, category), (count, size) in totals.items()
        ],
    )
    add_rollup_addresses(
        conn,
        [
            {"hour": hour, "watchlist": watchlist, "category": category, "local_ip": ip}
            for hour, watchlist, category, ip in addresses
        ],
    )


def store_book(ingest: Ingest, rows: Sequence[dict[str, Any]]) -> UpsertCounts:
    """Store address-book entries (dicts with ``BOOK_COLUMNS``): insert new ones, refresh the
    last-seen and last-recorded times of known ones."""
    conn = ingest.conn
    rows = _last_by(rows, lambda r: (r["source"], r["ip"], r["port"]))
    if not rows:
        return UpsertCounts()
    wanted = [(r["source"], r["ip"], r["port"]) for r in rows]
    stored: set[tuple[str, str, int | None]] = set()
    for chunk in _chunks(wanted):
        found = conn.execute(
            select(AddressBookEntry.source, AddressBookEntry.ip, AddressBookEntry.port).where(
                tuple_(AddressBookEntry.source, AddressBookEntry.ip, AddressBookEntry.port).in_(
                    chunk
                )
            )
        )
        stored.update((source, ip, port) for source, ip, port in found)
    new = [r for r in rows if (r["source"], r["ip"], r["port"]) not in stored]
    old = [r for r in rows if (r["source"], r["ip"], r["port"]) in stored]
    if new:
        statement = _insert(conn)(AddressBookEntry)
        statement = statement.on_conflict_do_update(
            index_elements=["source", "ip", "port"],
            set_={name: getattr(statement.excluded, name) for name in _BOOK_REFRESH},
        )
        conn.execute(statement, [{c: r[c] for c in BOOK_COLUMNS} for r in new])
    if old:
        conn.execute(
            update(AddressBookEntry)
            .where(
                and_(
                    AddressBookEntry.source == bindparam("b_source"),
                    AddressBookEntry.ip == bindparam("b_ip"),
                    AddressBookEntry.port == bindparam("b_port"),
                )
            )
            .values({name: bindparam(f"b_{name}") for name in _BOOK_REFRESH}),
            [
                {"b_source": r["source"], "b_ip": r["ip"], "b_port": r["port"]}
                | {f"b_{name}": r[name] for name in _BOOK_REFRESH}
                for r in old
            ],
        )
    return UpsertCounts(new=len(new), updated=len(old))
