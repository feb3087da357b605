"""``kill -9`` of a real ``chainwatch scan`` of Zeek dns, conn and ssl logs, on SQLite and
PostgreSQL: a rescan must store exactly what one clean scan stores, the uid join included (the
rescan learns the ssl verdicts again from the ssl.log it had not stored, and adds no second
event for a connection stored before the kill)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from chainwatch.store.models import Event, Scan
from tests.conftest import PgDatabases
from tests.reliability.test_signals import rescan_equals_clean, scan
from tests.sensors.zeeklogs import (
    CONN_FIELDS,
    DNS_FIELDS,
    SSL_FIELDS,
    T0,
    conn_rows,
    dns_rows,
    ssl_rows,
    tsv,
    watchlists,
)
from tests.sources.process import (
    Stderr,
    inputs_stored,
    poll,
    scalar,
    scan_started,
    writing,
)

#: Unclassified records around the scene: enough that storing conn.log takes a while.
FILLER = 150_000


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``watchlists/`` and ``flows/`` (dns.log, conn.log, ssl.log) as the reliability battery's
    ``scan --flows flows`` expects them."""
    directory = tmp_path_factory.mktemp("zeek-kill")
    watchlists(directory / "watchlists")
    flows = directory / "flows"
    flows.mkdir()
    filler = [
        [T0 + i / 10, f"F{i}", f"175.45.177.{i % 250 + 1}", 20000 + i % 40000, "192.0.2.7", 443,
         "tcp", "ssl", 1.0, 100 + i % 7, 200, "SF", 2, 3]
        for i in range(FILLER)
    ]  # fmt: skip
    (flows / "conn.log").write_text(tsv("conn", CONN_FIELDS, conn_rows() + filler))
    (flows / "dns.log").write_text(tsv("dns", DNS_FIELDS, dns_rows()))
    other = [
        [T0 + i, f"F{i}", "175.45.177.9", 20000 + i, "192.0.2.7", 443, "TLSv13", "x",
         f"www{i}.example.org", True]
        for i in range(20_000)
    ]  # fmt: skip
    (flows / "ssl.log").write_text(tsv("ssl", SSL_FIELDS, ssl_rows() + other))
    return directory


def mid_transaction(db_url: str, proc: object, err: Stderr) -> None:
    err.wait_for("conn.log: detected")  # dns.log is committed (read first)
    poll(proc, writing(db_url))  # type: ignore[arg-type]  # conn.log's transaction writes


POINTS = {
    "started": lambda db_url, proc, err: poll(proc, scan_started(db_url)),
    "mid-transaction": mid_transaction,
    "after-one": lambda db_url, proc, err: poll(proc, lambda: inputs_stored(db_url) >= 1),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_9_then_rescan_equals_clean(
    db_url: str, work: Path, pg_databases: PgDatabases, point: str
) -> None:
    proc = scan(db_url, work)
    err = Stderr(proc)
    POINTS[point](db_url, proc, err)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    err.rest()
    assert proc.returncode == -signal.SIGKILL
    assert scalar(db_url, select(Scan.status).where(Scan.id == 1)) == "running"
    assert inputs_stored(db_url) < 3  # the kill came before ssl.log was stored
    rescan_equals_clean(db_url, work, pg_databases)
    joined = scalar(db_url, select(Event).where(Event.connection_key == "zeek:C1sslpool"))
    assert (joined.bytes, joined.source_ref.rsplit("/", 1)[-1]) == (3000, "conn.log:9")
