"""Benchmark: a year of daily report over 10,000,000 stored events on SQLite (target <= 2 s),
and the size of the HTML page of a three-year daily report (target < 5 MB).

Fills a fresh SQLite store in bulk (executemany through the store's engine): N events spread
over 2019 with the matching hourly rollups and hourly and daily rollup addresses, as a scan
would leave them. Then times ``build_report`` (day, week, month, and day with ``--compare``)
and, as a reference in the same process, a plain ``COUNT(*)`` over the events table. The HTML
page's detail views (top addresses and endpoints, detectors, inputs) group the events table
itself, so their time is printed too (no target: only ``--format html`` runs them).

The HTML size is measured on a second store: the simulated public timeline over three full
years (2017-2019, 1,095 daily buckets), rendered as ``chainwatch report --format html`` does.

    python benchmarks/report.py [--events 10000000] [--db /tmp/bench.db] [--reuse]

``--reuse`` keeps a database a previous run filled (filling 10,000,000 events takes minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text

from chainwatch.report.build import build_report
from chainwatch.report.compare import Period
from chainwatch.report.details import build_details
from chainwatch.report.html import to_html
from chainwatch.simulate import daily_counts, event_rows
from chainwatch.store.db import open_store
from chainwatch.store.writes import add_rollup_addresses, add_rollups, insert_events

CATS = ("btc-p2p", "btc-pool", "xmr-pool", "xmr-p2p", "tor", "vpn")
YEAR = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)


def fill(url: str, events: int) -> None:
    store = open_store(url)
    rng = np.random.default_rng(1)
    hours = 365 * 24
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        chunk = 1_000_000
        per_cell: dict[tuple[int, int], int] = {}
        addresses: set[tuple[int, int, int]] = set()
        sha = "0" * 64
        for start in range(0, events, chunk):
            n = min(chunk, events - start)
            hour = np.sort(rng.integers(0, hours, n))
            cat = rng.integers(0, len(CATS), n)
            host = rng.integers(1, 50, n)
            cells, counts = np.unique(hour * 8 + cat, return_counts=True)
            for cell, count in zip(cells.tolist(), counts.tolist(), strict=True):
                key = (cell // 8, cell % 8)
                per_cell[key] = per_cell.get(key, 0) + count
            addresses.update(zip(hour.tolist(), cat.tolist(), host.tolist(), strict=True))
            base = YEAR.replace(tzinfo=None)
            rows = (
                (
                    (base + dt.timedelta(hours=h)).isoformat(sep=" ", timespec="microseconds"),
                    (base + dt.timedelta(hours=h)).isoformat(sep=" ", timespec="microseconds"),
                    "kp",
                    "175.45.176.0/22",
                    f"175.45.176.{ip}",
                    CATS[c],
                    CATS[c][:3],
                    "port",
                    0.5,
                    "bench",
                    f"bench:{start + i}",
                    sha,
                )
                for i, (h, c, ip) in enumerate(
                    zip(hour.tolist(), cat.tolist(), host.tolist(), strict=True)
                )
            )
            cur.executemany(
                "INSERT INTO events (observed_at, recorded_at, watchlist, matched_cidr, local_ip,"
                " category, coin, detector, confidence, source, source_ref, evidence_sha256)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        base = YEAR.replace(tzinfo=None)
        cur.executemany(
            "INSERT INTO rollups (hour, watchlist, category, records, bytes, packets, events)"
            " VALUES (?,?,?,?,0,0,?)",
            [
                (
                    (base + dt.timedelta(hours=h)).isoformat(sep=" ", timespec="microseconds"),
                    "kp",
                    CATS[c],
                    n,
                    n,
                )
                for (h, c), n in sorted(per_cell.items())
            ],
        )
        cur.executemany(
            "INSERT INTO rollup_addresses (hour, watchlist, category, local_ip) VALUES (?,?,?,?)",
            [
                (
                    (base + dt.timedelta(hours=h)).isoformat(sep=" ", timespec="microseconds"),
                    "kp",
                    CATS[c],
                    f"175.45.176.{ip}",
                )
                for h, c, ip in sorted(addresses)
            ],
        )
        cur.executemany(
            "INSERT INTO rollup_day_addresses (day, watchlist, category, local_ip)"
            " VALUES (?,?,?,?)",
            [
                (
                    (base + dt.timedelta(days=d)).date().isoformat(),
                    "kp",
                    CATS[c],
                    f"175.45.176.{ip}",
                )
                for d, c, ip in sorted({(h // 24, c, ip) for h, c, ip in addresses})
            ],
        )
        raw.commit()
    finally:
        raw.close()
        store.close()


def html_size(path: Path) -> None:
    """Render the HTML page of a three-year daily report and print its size."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{path}")
    try:
        timeline = daily_counts(dt.date(2017, 1, 1), dt.date(2019, 12, 31), scale=0.2)
        events, rollups, addresses = event_rows(timeline)
        with store.write() as conn:
            insert_events(conn, events)
            add_rollups(conn, rollups)
            add_rollup_addresses(conn, addresses)
        began = time.perf_counter()
        report = build_report(
            store,
            by="day",
            since=dt.date(2017, 1, 1),
            until=dt.date(2019, 12, 31),
            compare=(
                Period(dt.date(2017, 12, 1), dt.date(2017, 12, 31)),
                Period(dt.date(2018, 3, 1), dt.date(2018, 3, 15)),
            ),
        )
        page = to_html(report, build_details(store, report)).encode()
        took = time.perf_counter() - began
    finally:
        store.close()
    from plotly.offline import get_plotlyjs

    library = len(get_plotlyjs().encode())
    size = len(page)
    print(
        f"html --by day over 3 years: {len(report.series):,} buckets, {len(events):,} events, "
        f"{size:,} bytes ({size / 1e6:.2f} MB; target < 5 MB: {'ok' if size < 5e6 else 'MISSED'})"
        f" in {took:.2f} s; of which plotly.js {library:,} bytes, the rest {size - library:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/chainwatch-bench-report.db"))
    parser.add_argument("--reuse", action="store_true", help="keep an already filled --db")
    args = parser.parse_args()
    url = f"sqlite:///{args.db}"
    if not (args.reuse and args.db.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        began = time.perf_counter()
        fill(url, args.events)
        print(f"filled {args.events:,} events in {time.perf_counter() - began:.1f} s")
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            began = time.perf_counter()
            stored = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            count_s = time.perf_counter() - began
        compare = (
            Period(dt.date(2019, 1, 1), dt.date(2019, 3, 31)),
            Period(dt.date(2019, 10, 1), dt.date(2019, 12, 31)),
        )
        for by, periods in (("day", None), ("week", None), ("month", None), ("day", compare)):
            began = time.perf_counter()
            report = build_report(
                store,
                by=by,
                watchlist="kp",
                since=dt.date(2019, 1, 1),
                until=dt.date(2019, 12, 31),
                compare=periods,
            )
            took = time.perf_counter() - began
            total = sum(int(v.sum()) for v in report.series.groups.values())
            flag = " --compare" if periods else ""
            print(
                f"report --by {by}{flag}: {len(report.series)} buckets, {total:,} events in "
                f"{took:.3f} s (target <= 2 s: {'ok' if took <= 2 else 'MISSED'}); "
                f"reference COUNT(*) of {stored:,} events: {count_s:.3f} s, "
                f"ratio {took / count_s:.2f}"
            )
        began = time.perf_counter()
        details = build_details(store, report)
        took = time.perf_counter() - began
        print(
            f"html detail views (top addresses/endpoints, detectors, inputs) over {stored:,} "
            f"events: {took:.2f} s, ratio {took / count_s:.1f} to COUNT(*) "
            f"({len(details.local)} local and {len(details.remote)} remote rows)"
        )
    finally:
        store.close()
    html_size(args.db.with_name(args.db.stem + "-html.db"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
