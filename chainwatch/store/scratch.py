"""SQLite scratch files: where a transaction's events are staged from Arrow, in C, by ADBC.

Python's ``sqlite3`` binds every value of every row from Python, which costs more than SQLite
storing it. The ADBC driver ingests an Arrow table in C, but on its own connection: it cannot
write into the input's transaction, and writing ``events`` itself would wait for the input's
lock or commit apart from it. So it writes into a scratch file that the input's connection has
ATTACHed, and the input's transaction moves the rows into ``events`` with one INSERT ...
SELECT (``EventWriter.flush``): the rows are stored by the transaction, or not at all.

Two rules of SQLite shape this. ATTACH is refused inside a transaction, so every writer
connection attaches its scratch files before its first transaction (``attach``, from
``Store.write``). A connection that has read a file keeps that read (its snapshot and schema)
until its transaction ends, so a file is filled and read once per transaction: a few are
attached and a transaction takes the next one free (``take``) for each round of staging. And
BEGIN IMMEDIATE would open a write transaction on every attached file, locking ADBC out; a
writer with scratch files begins DEFERRED and takes the main database's write lock at once
with a statement that writes nothing (``LOCK_MAIN``): the same lock, taken up front, as before.

A scratch file holds nothing of value: it is written without journal or sync, emptied when
taken again, and removed with the connection (and its directory at exit).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection

#: Scratch files per writer connection: rounds of staging (moves into ``events``) per
#: transaction at the floor; later rounds write through ``sqlite3``.
FILES = 8
#: Takes the main database's write lock in a transaction begun DEFERRED, changing nothing.
LOCK_MAIN = "DELETE FROM main.alembic_version WHERE 0"
_KEY = "chainwatch_scratch"


@cache
def _directory(pid: int, uid: int) -> Path:
    """The scratch directory of this process as this user (a forked child, or the process
    once it acts as another user, makes its own: 0700 directories)."""
    path = Path(tempfile.mkdtemp(prefix=f"chainwatch-scratch-{pid}-"))
    atexit.register(_remove, path, pid)
    return path


def _remove(path: Path, pid: int) -> None:
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)


def attach(connection: Connection) -> None:
    """Attach this connection's scratch files (SQLite, outside a transaction; once). Where
    they cannot be made (no writable temporary directory), the connection has none and its
    events are written through ``sqlite3``: slower, the same rows."""
    record = connection.connection
    if _KEY in record.info:
        return
    driver: Any = record.driver_connection
    paths: list[Path] = []
    try:
        directory = _directory(os.getpid(), os.geteuid())
        for k in range(FILES):
            paths.append(directory / f"{uuid.uuid4().hex}.db")
            driver.execute(f"ATTACH DATABASE ? AS scratch{k}", (str(paths[-1]),))
    except (OSError, sqlite3.Error):
        for k in range(len(paths) - 1):
            driver.execute(f"DETACH DATABASE scratch{k}")
        paths = []
    record.info[_KEY] = {"paths": paths, "free": []} if paths else None


def detach_files(info: dict[str, Any]) -> None:
    """Remove a closed connection's scratch files."""
    for path in (info.get(_KEY) or {}).get("paths", ()):
        Path(path).unlink(missing_ok=True)


def attached(info: dict[str, Any]) -> bool:
    return bool(info.get(_KEY))


def begun(info: dict[str, Any]) -> None:
    """A transaction began: all of the connection's scratch files are free for it."""
    if info.get(_KEY):
        info[_KEY]["free"] = list(range(len(info[_KEY]["paths"])))


class Stage:
    """A scratch file taken by a transaction. Each table is staged by an ADBC connection of
    its own, committed at once: nothing is left open should the transaction end early."""

    def __init__(self, schema: str, path: Path) -> None:
        self.schema = schema
        self.path = path
        self._tables = 0

    def add(self, table: pa.Table) -> str:
        """Stage a table; returns its qualified name, for the input's connection to read."""
        import adbc_driver_sqlite.dbapi as adbc

        name = f"b{self._tables}"
        with adbc.connect(str(self.path), autocommit=True) as conn, conn.cursor() as cursor:
            for pragma in ("journal_mode = OFF", "synchronous = OFF"):
                cursor.execute(f"PRAGMA {pragma}")
                cursor.fetchall()
            if self._tables == 0:  # empty it: an earlier transaction's tables, read and done
                cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                for (old,) in cursor.fetchall():
                    cursor.execute(f'DROP TABLE "{old}"')
            cursor.adbc_ingest(name, table, mode="create")
        self._tables += 1
        return f"{self.schema}.{name}"


def free(conn: Connection) -> int:
    """How many scratch files this transaction has not taken yet."""
    state = conn.connection.info.get(_KEY)
    return len(state["free"]) if state else 0


def take(conn: Connection) -> Stage | None:
    """The next scratch file free in this transaction, or None (none attached, or all read)."""
    state = conn.connection.info.get(_KEY)
    if not state or not state["free"]:
        return None
    k = state["free"].pop(0)
    return Stage(f"scratch{k}", state["paths"][k])
