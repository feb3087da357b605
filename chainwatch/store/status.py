"""What ``chainwatch status`` shows: per watcher, the last success, the last error, the counts.

Everything comes from ``watcher_runs``, which every scan and every ``run`` round writes, so the
status is the same whichever process did the work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from chainwatch.store.db import Store
from chainwatch.store.models import RunLock, WatcherRun


@dataclass
class WatcherStatus:
    """One watcher's state.

    Attributes:
        watcher, kind: the configured name and kind.
        runs, failures: rounds recorded, and how many of them failed.
        last_success: when the last successful round finished, None if never.
        last_counts: that round's counts (read, watched, stored, ...).
        last_error_at, last_error: the last failed round and its one-line error.
        running_since: set while a round is running (or was left running by a killed process).
    """

    watcher: str
    kind: str
    runs: int = 0
    failures: int = 0
    last_success: dt.datetime | None = None
    last_counts: dict[str, Any] = field(default_factory=dict)
    last_error_at: dt.datetime | None = None
    last_error: str | None = None
    running_since: dt.datetime | None = None


def watcher_status(store: Store) -> list[WatcherStatus]:
    with store.reading() as session:
        totals = session.execute(
            select(
                WatcherRun.watcher,
                func.max(WatcherRun.kind),
                func.count(),
                func.count().filter(WatcherRun.ok.is_(False)),
                func.max(WatcherRun.id).filter(WatcherRun.ok.is_(True)),
                func.max(WatcherRun.id).filter(WatcherRun.ok.is_(False)),
                func.max(WatcherRun.id).filter(WatcherRun.ok.is_(None)),
            )
            .group_by(WatcherRun.watcher)
            .order_by(WatcherRun.watcher)
        ).all()
        result = []
        for name, kind, runs, failures, ok_id, error_id, open_id in totals:
            status = WatcherStatus(watcher=name, kind=kind, runs=runs, failures=failures)
            if ok_id is not None:
                ok = session.get_one(WatcherRun, ok_id)
                status.last_success, status.last_counts = ok.finished_at, ok.counts
            if error_id is not None:
                failed = session.get_one(WatcherRun, error_id)
                status.last_error_at, status.last_error = failed.finished_at, failed.error
            if open_id is not None and open_id > max(ok_id or 0, error_id or 0):
                status.running_since = session.get_one(WatcherRun, open_id).started_at
            result.append(status)
        return result


def lock_holder(store: Store) -> RunLock | None:
    with store.reading() as session:
        return session.scalars(select(RunLock)).first()
