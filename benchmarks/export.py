"""Export throughput and memory: rows per second and peak RSS for CSV and JSON lines.

Usage: python benchmarks/export.py [EVENTS] [DB_URL]   (default 1,000,000 events, temp SQLite)

Events are generated with pyarrow and stored through ``insert_events``; the export then streams
them. Peak RSS is printed after storing and after each export: flat memory means the export
adds little over the store's own baseline whatever the event count.
"""

from __future__ import annotations

import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from chainwatch.export import run_export
from chainwatch.store.db import open_store
from chainwatch.store.evidence import EvidenceQuery
from chainwatch.store.ingest import EVENT_COLUMNS, insert_events


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batch(start: int, n: int) -> pa.Table:
    t0 = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    ids = range(start, start + n)
    cols = {
        "observed_at": [t0 + dt.timedelta(seconds=i) for i in ids],
        "last_seen_at": [None] * n,
        "recorded_at": [t0] * n,
        "watchlist": ["kp"] * n,
        "matched_cidr": ["175.45.176.0/22"] * n,
        "local_ip": [f"175.45.{176 + i % 4}.{i % 256}" for i in ids],
        "local_port": [40000 + i % 20000 for i in ids],
        "remote_ip": ["203.0.113.10"] * n,
        "remote_port": [18080] * n,
        "proto": ["tcp"] * n,
        "direction": ["outbound"] * n,
        "category": ["xmr-p2p"] * n,
        "coin": ["xmr"] * n,
        "detector": ["port"] * n,
        "confidence": [0.3] * n,
        "source": ["bench"] * n,
        "source_ref": [f"flows.csv:{i}" for i in ids],
        "input_id": [None] * n,
        "scan_id": [None] * n,
        "bytes": [1000 + i % 5000 for i in ids],
        "packets": [10] * n,
        "detail": [None] * n,
        "evidence_sha256": ["0" * 64] * n,
        "connection_key": [None] * n,
    }
    return pa.table({c: cols[c] for c in EVENT_COLUMNS})


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    work = Path(tempfile.mkdtemp(prefix="cw-export-bench-"))
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{work}/bench.db"
    store = open_store(url)
    step = 200_000
    for start in range(0, total, step):
        with store.write() as conn:
            insert_events(conn, batch(start, min(step, total - start)))
    print(f"stored {total:,} events; peak RSS {peak_mib():.0f} MiB")
    for fmt in ("csv", "jsonl"):
        began = time.perf_counter()
        summary = run_export(store, EvidenceQuery(), fmt, work / fmt)
        took = time.perf_counter() - began
        print(
            f"{fmt}: {summary.records:,} rows in {took:.1f} s = {summary.records / took:,.0f} rows/s;"
            f" peak RSS {peak_mib():.0f} MiB"
        )
    store.close()
    shutil.rmtree(work)  # the SQLite database and the exports: gigabytes at 10M events


if __name__ == "__main__":
    main()
