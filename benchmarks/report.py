"""Benchmark: a year of daily report over 10,000,000 stored events on SQLite (target <= 2 s).

Fills a fresh SQLite store in bulk (executemany through the store's engine): N events spread
over 2019 with the matching hourly rollups and hourly and daily rollup addresses, as a scan
would leave them. Then times ``build_report`` (day and week) and, as a reference in the same
process, a plain ``COUNT(*)`` over the events table, and prints peak memory.

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
from chainwatch.store.db import open_store

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
        for by in ("day", "week"):
            began = time.perf_counter()
            report = build_report(
                store, by=by, watchlist="kp", since=dt.date(2019, 1, 1), until=dt.date(2019, 12, 31)
            )
            took = time.perf_counter() - began
            total = sum(int(v.sum()) for v in report.series.groups.values())
            print(
                f"report --by {by}: {len(report.series)} buckets, {total:,} events in "
                f"{took:.3f} s (target <= 2 s: {'ok' if took <= 2 else 'MISSED'}); "
                f"reference COUNT(*) of {stored:,} events: {count_s:.3f} s, "
                f"ratio {took / count_s:.2f}"
            )
    finally:
        store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
