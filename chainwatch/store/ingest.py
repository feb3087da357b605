"""Bulk writes of observations: inputs, events, hourly rollups and their distinct addresses.

One input file is written in one transaction (``Store.write()``): its ``inputs`` row, its
events and its rollup increments commit together or not at all. That is what makes a scan
killed at any point and run again end with exactly the data of one clean run, and what lets a
re-read of the same file (same SHA-256) store nothing twice.

Concurrent scans of the same input: the transaction first claims the input (``claim_input``).
The claim is part of the transaction, so it ends with it: committed, the ``inputs`` row says
the input was read; rolled back, or its process killed, the input is free again. A scan that
finds an input claimed skips it ("being read by scan N") rather than wait or fail.

The rows themselves (events, rollups, addresses) are written by ``chainwatch.store.writes``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, insert, select, update

from chainwatch.store.locks import name_writer, try_claim
from chainwatch.store.models import Input


def input_seen(conn: Connection, sha256: str) -> Input | None:
    """The ``inputs`` row of an input with this SHA-256, if it was already read."""
    row = conn.execute(select(Input).where(Input.sha256 == sha256)).first()
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
        insert(Input).values(
            path=path,
            size=size,
            sha256=sha256,
            format=fmt,
            scan_id=scan_id,
            read_at=read_at,
            records=records,
            watched=watched,
            bad=bad,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def update_input(conn: Connection, input_id: int, *, records: int, watched: int, bad: int) -> None:
    conn.execute(
        update(Input).where(Input.id == input_id).values(records=records, watched=watched, bad=bad)
    )
