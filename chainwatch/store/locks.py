"""Locks between concurrent writers (several scans, a scan beside ``chainwatch run``).

On PostgreSQL they are transaction-level advisory locks: held until the transaction that took
them commits or rolls back, and released by the server when the process holding them dies, so
a killed scan never leaves one behind. Each writer names itself in ``application_name``
(``chainwatch scan N``) for the length of its transaction, so that another can say whom it
waits for. On SQLite a write transaction already holds the database's one write lock
(``Store.write()`` begins IMMEDIATE), so these are no-ops there.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text

from chainwatch.store.db import waiting_notice

_WRITER = "chainwatch scan "


def _key(kind: str, name: str) -> int:
    """A 63-bit advisory lock key for ``name`` of ``kind`` (positive, so that pg_locks shows
    it as classid = high 32 bits, objid = low 32 bits)."""
    digest = hashlib.sha256(f"chainwatch {kind}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def name_writer(conn: Connection, scan_id: int | None) -> None:
    """Name this transaction's writer after its scan, for the others' messages."""
    if conn.dialect.name == "postgresql" and scan_id is not None:
        conn.execute(
            text("SELECT set_config('application_name', :name, true)"),
            {"name": f"{_WRITER}{scan_id}"},
        )


def _holder(conn: Connection, key: int) -> str | None:
    """Who holds the advisory lock ``key`` ("scan N", or "another process" when it does not
    say), or None when nobody does."""
    row = conn.execute(
        text(
            "SELECT a.application_name FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = :high AND l.objid = :low AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"high": key >> 32, "low": key & 0xFFFFFFFF},
    ).first()
    if row is None:
        return None
    name = row[0] or ""
    return name.removeprefix("chainwatch ") if name.startswith(_WRITER) else "another process"


def try_claim(conn: Connection, kind: str, name: str) -> str | None:
    """Take the lock on ``name`` of ``kind`` for this transaction if nobody holds it: None
    when taken (or on SQLite), else who holds it ("scan N")."""
    if conn.dialect.name != "postgresql":
        return None
    key = _key(kind, name)
    while not conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}):
        holder = _holder(conn, key)
        if holder is not None:
            return holder
        # The holder's transaction ended between the two looks: try again.
    return None


def wait_for(conn: Connection, kind: str, name: str, why: str) -> None:
    """Take the lock on ``name`` of ``kind`` for this transaction, waiting for its holder as
    long as it takes; after a few seconds of waiting, say so on stderr."""
    holder = try_claim(conn, kind, name)
    if holder is None:
        return
    with waiting_notice(f"{holder}, {why}"):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(kind, name)})


def hold(conn: Connection, kind: str, name: str, why: str, scan_id: int | None) -> None:
    """Take the lock on ``name`` of ``kind`` for the session of ``conn`` (until ``release``,
    or the connection ends), named after the scan, waiting for its holder as ``wait_for``
    does. For a lock that outlives the holder's transactions: a scan's on a cluster."""
    if scan_id is not None:
        conn.execute(
            text("SELECT set_config('application_name', :name, false)"),
            {"name": f"{_WRITER}{scan_id}"},
        )
    key = _key(kind, name)
    while not conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
        holder = _holder(conn, key)
        if holder is not None:
            with waiting_notice(f"{holder}, {why}"):
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            return


def release(conn: Connection, kind: str, name: str) -> None:
    """Let go of a lock taken by ``hold``."""
    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _key(kind, name)})
