"""The worker functions without Dask: a write task run again after its transaction committed
(its worker died before the result got back) reports the unit's inputs as stored, from their
``inputs`` rows, and stores nothing twice; another scan finds them read before."""

from __future__ import annotations

from pathlib import Path

from chainwatch.categories import DEFAULT_PORT_RULES
from chainwatch.classify import Classifier
from chainwatch.cluster import tasks
from chainwatch.cluster.connect import public_url
from chainwatch.cluster.shipped import Shipped, forget
from chainwatch.cluster.units import plan
from chainwatch.flows.limits import Limits
from chainwatch.flows.nfdump_filter import filter_text
from chainwatch.store.db import open_store
from chainwatch.store.scans import start_scan
from chainwatch.watchers.interface import utcnow
from chainwatch.watchlists import RangeMatcher, load_watchlists
from tests.cluster.test_scan import stored
from tests.reliability.test_concurrency import write_files


def shipped_for(db_url: str, wl: Path, scan_id: int) -> Shipped:
    watchlists = load_watchlists(wl)
    return Shipped(
        key=f"test-{scan_id}",
        source="flows",
        fmt="auto",
        matcher=RangeMatcher(watchlists.watchlists),
        classifier=Classifier(watchlists.endpoints, DEFAULT_PORT_RULES),
        limits=Limits(),
        filter_text=filter_text(watchlists),
        scan_id=scan_id,
        db=public_url(db_url),
        strict=False,
        piece_bytes=1 << 26,
    )


def test_a_write_run_again_reports_what_it_stored(db_url: str, tmp_path: Path) -> None:
    wl = tmp_path / "watchlists"
    wl.mkdir()
    (wl / "kp.toml").write_text('[[ranges]]\ncidr = "175.45.176.0/22"\n')
    paths = write_files(tmp_path / "csv")
    store = open_store(db_url)
    try:
        scan_id = start_scan(store, "scan", utcnow())
        shipped = shipped_for(db_url, wl, scan_id)
        unit = plan([(paths[0], str(paths[0]))])[0]
        prepared = tasks.prepare(unit, shipped)
        assert not prepared.failures and prepared.matched
        first = tasks.write_with(store, prepared, shipped)
        after = stored(db_url)
        again = tasks.write_with(store, tasks.prepare(unit, shipped), shipped)
        assert stored(db_url) == after  # nothing twice
        [one], [two] = first.begun, again.begun
        assert one is not None and two is not None and one.totals and two.totals
        assert (two.totals.records, two.totals.watched, two.totals.bad) == (
            one.totals.records,
            one.totals.watched,
            one.totals.bad,
        )
        assert not again.notes[1:]  # not "skipped"
        other = shipped_for(db_url, wl, start_scan(store, "scan", utcnow()))
        later = tasks.write_with(store, tasks.prepare(unit, other), other)
        assert later.begun == [None] and "skipped, already read" in later.notes[-1]
        forget(shipped.key)
        forget(other.key)
    finally:
        store.close()
