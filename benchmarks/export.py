"""Export throughput and memory: rows per second and peak RSS for CSV, JSON lines and STIX.

Usage: python benchmarks/export.py [EVENTS] [DB_URL]   (default 1,000,000 events, temp SQLite)

STIX writes several objects per event (network-traffic, observed-data, addresses, indicators
and relationships); its rate is given in events per second, the target being 20,000. As a
reference in the same process, the stix2 library's validating constructors build the same two
objects per event for the first 2,000 events (what the exporter did before it wrote dicts).

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

from chainwatch.export.run import run_export
from chainwatch.store.db import open_store
from chainwatch.store.evidence import EXPORT_FIELDS, EvidenceQuery, stream_events
from chainwatch.store.writes import EVENT_COLUMNS, insert_events


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


def library_rate(store: object, sample: int = 2_000) -> float:
    """Events/s of building each event's network-traffic and observed-data with stix2."""
    import stix2

    f = {name: i for i, name in enumerate(EXPORT_FIELDS)}
    rows = next(stream_events(store, EvidenceQuery(), chunk=sample))  # type: ignore[arg-type]
    began = time.perf_counter()
    for row in rows:
        local = stix2.IPv4Address(value=row[f["local_ip"]])
        remote = stix2.IPv4Address(value=row[f["remote_ip"]])
        traffic = stix2.NetworkTraffic(
            start=row[f["observed_at"]],
            protocols=[row[f["proto"]]],
            src_ref=local.id,
            dst_ref=remote.id,
            src_port=row[f["local_port"]],
            dst_port=row[f["remote_port"]],
            src_byte_count=row[f["bytes"]],
            src_packets=row[f["packets"]],
            allow_custom=True,
            x_chainwatch_event_id=row[f["event_id"]],
        )
        stix2.ObservedData(
            first_observed=row[f["observed_at"]],
            last_observed=row[f["observed_at"]],
            number_observed=1,
            object_refs=[local.id, remote.id, traffic.id],
            allow_custom=True,
            x_chainwatch_source_ref=row[f["source_ref"]],
        ).serialize()
        traffic.serialize()
    return len(rows) / (time.perf_counter() - began)


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
    for fmt in ("csv", "jsonl", "stix"):
        began, cpu = time.perf_counter(), time.process_time()
        summary = run_export(store, EvidenceQuery(), fmt, work / fmt)
        took, cpu = time.perf_counter() - began, time.process_time() - cpu
        unit = "events" if fmt == "stix" else "rows"
        # CPU time too: on a shared machine the wall clock also counts other processes' turns.
        print(
            f"{fmt}: {summary.records:,} {unit} in {took:.1f} s = "
            f"{summary.records / took:,.0f} {unit}/s (CPU {cpu:.1f} s = "
            f"{summary.records / cpu:,.0f} {unit}/s); peak RSS {peak_mib():.0f} MiB"
        )
        if fmt == "stix":
            reference = library_rate(store)
            print(
                f"stix2 library objects (reference, first 2,000 events): {reference:,.0f} "
                f"events/s; export / reference: {summary.records / took / reference:.1f}x"
            )
    store.close()
    shutil.rmtree(work)  # the SQLite database and the exports: gigabytes at 10M events


if __name__ == "__main__":
    main()
