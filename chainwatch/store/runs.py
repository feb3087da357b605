"""The ``chainwatch run`` lock and the record of alerts already announced.

One ``chainwatch run`` per database: the lock is a row naming the holder (pid, host) and a
heartbeat the holder refreshes. The row outlives a crash, so a new ``run`` takes it over when
its holder is provably gone: a pid that no longer exists on this host, or (for a holder on
another host, whose pid cannot be checked) a heartbeat older than ``stale_after`` seconds.
A one-shot ``chainwatch scan`` does not take the lock and runs beside ``run``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from chainwatch.errors import ChainwatchError
from chainwatch.store.db import Store
from chainwatch.store.models import Alert, RunLock
from chainwatch.store.scans import pid_alive

LOCK_NAME = "run"


class LockedError(ChainwatchError):
    """Another live ``chainwatch run`` holds the database's lock."""


@dataclass(frozen=True)
class Holder:
    pid: int
    hostname: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime

    def describe(self) -> str:
        return f"pid {self.pid} on {self.hostname}, started {self.started_at:%Y-%m-%d %H:%M:%S}Z"


def _gone(row: RunLock, now: dt.datetime, stale_after: float) -> bool:
    if row.hostname == socket.gethostname():
        return row.pid != os.getpid() and not pid_alive(row.pid)
    return (now - row.heartbeat_at).total_seconds() > stale_after


def acquire_lock(store: Store, now: dt.datetime, *, stale_after: float) -> Holder | None:
    """Take the run lock. Returns the previous holder when a stale lock was taken over (the
    caller warns), None when the lock was free. Raises ``LockedError`` when it is held."""
    for _ in range(2):  # a second try when another process inserted the row at the same time
        try:
            with store.session() as session:
                row = session.get(RunLock, LOCK_NAME, with_for_update=True)
                previous = None
                if row is not None:
                    holder = Holder(row.pid, row.hostname, row.started_at, row.heartbeat_at)
                    if not _gone(row, now, stale_after):
                        raise LockedError(
                            "another chainwatch run holds the database's lock "
                            f"({holder.describe()}); "
                            "stop it first, or use chainwatch scan for a one-shot pass"
                        )
                    previous = holder
                    session.delete(row)
                    session.flush()
                session.add(
                    RunLock(
                        name=LOCK_NAME,
                        pid=os.getpid(),
                        hostname=socket.gethostname(),
                        started_at=now,
                        heartbeat_at=now,
                    )
                )
                return previous
        except IntegrityError:
            continue
    raise LockedError("another chainwatch run took the database's lock at the same moment")


def heartbeat(store: Store, now: dt.datetime) -> None:
    with store.session() as session:
        row = session.get(RunLock, LOCK_NAME)
        if row is not None and row.pid == os.getpid() and row.hostname == socket.gethostname():
            row.heartbeat_at = now


def release_lock(store: Store) -> None:
    with store.session() as session:
        session.execute(
            delete(RunLock).where(
                RunLock.name == LOCK_NAME,
                RunLock.pid == os.getpid(),
                RunLock.hostname == socket.gethostname(),
            )
        )


def record_alert(
    store: Store, *, key: str, kind: str, watchlist: str, payload: dict[str, Any], now: dt.datetime
) -> int | None:
    """Store an alert unless one with ``key`` exists. Returns the new id, or None if known."""
    try:
        with store.session() as session:
            if session.scalar(select(Alert.id).where(Alert.key == key)) is not None:
                return None
            alert = Alert(key=key, kind=kind, watchlist=watchlist, payload=payload, created_at=now)
            session.add(alert)
            session.flush()
            return alert.id
    except IntegrityError:  # a concurrent writer recorded it first
        return None


def set_alert_errors(store: Store, alert_id: int, errors: list[str]) -> None:
    with store.session() as session:
        session.get_one(Alert, alert_id).errors = errors


def list_alerts(store: Store) -> list[Alert]:
    with store.reading() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))
