"""Scan bookkeeping: scan rows, per-watcher runs, and the watchlists as last loaded."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from chainwatch.store.db import Store
from chainwatch.store.models import Input, Scan, WatcherRun, WatchRange
from chainwatch.store.models import Watchlist as WatchlistRow
from chainwatch.watchlists import RangeTable, WatchlistSet
from chainwatch.watchlists.ranges import NO_END, NO_START, from_micros

#: ``chainwatch run`` starts rounds of several watchers at once, each syncing the watchlists.
_SYNC_LOCK = threading.Lock()
#: Range rows per INSERT round.
_CHUNK = 10_000


def sync_watchlists(store: Store, watchlists: WatchlistSet, now: dt.datetime) -> None:
    """Store each watchlist and its ranges as loaded now; unchanged files are left alone.

    Another process (a ``chainwatch scan`` beside ``chainwatch run``) may insert the same
    watchlist at the same moment; its insert wins and ours is read again."""
    with _SYNC_LOCK:
        try:
            _sync(store, watchlists, now)
        except IntegrityError:
            _sync(store, watchlists, now)


def _sync(store: Store, watchlists: WatchlistSet, now: dt.datetime) -> None:
    with store.session() as session:
        existing = {row.name: row for row in session.scalars(select(WatchlistRow))}
        for watchlist in watchlists.watchlists:
            row = existing.get(watchlist.name)
            if row is not None and row.file_sha256 == watchlist.sha256:
                continue
            if row is None:
                row = WatchlistRow(name=watchlist.name, file_sha256=watchlist.sha256, loaded_at=now)
                session.add(row)
                session.flush()
            else:
                session.execute(delete(WatchRange).where(WatchRange.watchlist_id == row.id))
            row.description = watchlist.description
            row.source = watchlist.source
            row.file_sha256 = watchlist.sha256
            row.loaded_at = now
            session.flush()
            # Core executemany in chunks (ORM objects, even the ORM's bulk insert, take minutes
            # over the 10**6 ranges a watchlist may have).
            rows = _range_rows(row.id, watchlist.table)
            for start in range(0, len(rows), _CHUNK):
                session.connection().execute(insert(WatchRange), rows[start : start + _CHUNK])


def _range_rows(watchlist_id: int, table: RangeTable) -> list[dict[str, Any]]:
    """The rows of a watchlist's ranges, windows as inclusive UTC instants (NULL: unbounded)."""
    starts, ends = table.valid_from.tolist(), table.valid_to.tolist()
    return [
        {
            "watchlist_id": watchlist_id,
            "cidr": table.cidr(i),
            "note": table.notes[i],
            "source": table.sources[i],
            "valid_from": None if starts[i] == NO_START else from_micros(starts[i]),
            "valid_to": None if ends[i] == NO_END else from_micros(ends[i]),
        }
        for i in range(len(table))
    ]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def close_dead_scans(store: Store, now: dt.datetime) -> int:
    """Mark scans left "running" by a process of this host that no longer exists (killed with
    SIGKILL, or the machine lost power) as "interrupted". Returns how many."""
    host = socket.gethostname()
    closed = 0
    with store.session() as session:
        running = session.scalars(
            select(Scan).where(Scan.status == "running", Scan.hostname == host)
        )
        for scan in running:
            if scan.pid is not None and scan.pid != os.getpid() and not pid_alive(scan.pid):
                scan.status = "interrupted"
                scan.finished_at = now
                scan.errors = [*scan.errors, "the process ended without finishing this scan"]
                closed += 1
    return closed


def start_scan(store: Store, command: str, now: dt.datetime) -> int:
    close_dead_scans(store, now)
    with store.session() as session:
        scan = Scan(
            started_at=now,
            status="running",
            command=command,
            pid=os.getpid(),
            hostname=socket.gethostname(),
            counts={},
            errors=[],
        )
        session.add(scan)
        session.flush()
        return scan.id


def finish_scan(
    store: Store,
    scan_id: int,
    *,
    status: str,
    counts: dict[str, int],
    errors: list[str],
    now: dt.datetime,
) -> None:
    with store.session() as session:
        scan = session.get_one(Scan, scan_id)
        scan.status = status
        scan.counts = counts
        scan.errors = errors
        scan.finished_at = now


def start_watcher_run(store: Store, scan_id: int, watcher: str, kind: str, now: dt.datetime) -> int:
    with store.session() as session:
        run = WatcherRun(scan_id=scan_id, watcher=watcher, kind=kind, started_at=now, counts={})
        session.add(run)
        session.flush()
        return run.id


def finish_watcher_run(
    store: Store,
    run_id: int,
    *,
    ok: bool,
    error: str | None,
    counts: dict[str, Any],
    now: dt.datetime,
) -> None:
    with store.session() as session:
        run = session.get_one(WatcherRun, run_id)
        run.ok = ok
        run.error = error
        run.counts = counts
        run.finished_at = now


def inputs_of_scan(store: Store, scan_id: int) -> int:
    """How many inputs this scan has stored so far (for the line of an interrupted scan)."""
    with store.session() as session:
        return int(
            session.scalar(select(func.count()).select_from(Input).where(Input.scan_id == scan_id))
            or 0
        )
