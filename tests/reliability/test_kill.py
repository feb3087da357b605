"""``kill -9`` of a real ``chainwatch scan`` at several points, on SQLite and PostgreSQL: a
rescan must store exactly what one clean scan stores, and it marks the killed scan
``interrupted``. The points are found from what the process shows, including one inside an
input's open write transaction (seen from another connection of the database)."""

from __future__ import annotations

import signal
from pathlib import Path
from subprocess import Popen

import pytest
from sqlalchemy import select

from chainwatch.store.models import Scan
from tests.conftest import PgDatabases
from tests.reliability.test_signals import (
    rescan_equals_clean,
    scan,
    work,  # noqa: F401  (the module's inputs, a fixture)
)
from tests.sources.process import (
    Stderr,
    inputs_stored,
    poll,
    scalar,
    scan_started,
    writing,
)


def mid_transaction(db_url: str, proc: Popen[str], err: Stderr) -> None:
    err.wait_for("flows-1.csv: detected")  # the first input is committed
    poll(proc, writing(db_url))  # the second one's transaction has begun writing


POINTS = {
    "started": lambda db_url, proc, err: poll(proc, scan_started(db_url)),
    "mid-transaction": mid_transaction,
    "after-one": lambda db_url, proc, err: poll(proc, lambda: inputs_stored(db_url) >= 1),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_9_then_rescan_equals_clean(
    db_url: str,
    work: Path,  # noqa: F811
    pg_databases: PgDatabases,
    point: str,
) -> None:
    proc = scan(db_url, work)
    err = Stderr(proc)
    POINTS[point](db_url, proc, err)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    err.rest()
    assert proc.returncode == -signal.SIGKILL
    assert scalar(db_url, select(Scan.status).where(Scan.id == 1)) == "running"
    committed = inputs_stored(db_url)
    assert committed == {"started": 0, "mid-transaction": 1, "after-one": 1}[point]
    rescan_equals_clean(db_url, work, pg_databases)
    # The rescan saw the killed process gone and closed its scan.
    assert scalar(db_url, select(Scan.status).where(Scan.id == 1)) == "interrupted"
