"""The figures of ``benchmarks/flows.py``: the table of times, rates, multiples of the plain
Python reader and peak RSS per database, and the targets of issue 16 with pass or fail."""

from __future__ import annotations

import os

GIB = 2**30


def report(
    n: int,
    floor: float,
    floor_rss: int,
    reader: tuple[float, int, str] | None,
    start: tuple[float, int, str] | None,
    scans: dict[tuple[str, str], tuple[float, int, str]],
    dbs: list[str],
    naive_run: tuple[float, int, int],
    floors: dict[str, tuple[float, int]],
) -> None:
    naive, naive_rss, naive_rows = naive_run
    naive_rate = naive_rows / naive

    def cells(seconds: float, rss: int) -> str:
        rate = n / seconds
        return f"{seconds:7.2f} {rate:>10,.0f} {rate / naive_rate:6.2f}x {rss / 2**20:6.0f}"

    print(f"\nflows: {n:,} (20% from watched ranges); machine: {os.cpu_count()} cores")
    print(f"{'':30}" + "".join(f" {d:^34}" for d in dbs))
    print(f"{'':30}" + f" {'s':>7} {'rec/s':>10} {'x naive':>7} {'RSS MiB':>7}" * len(dbs))
    print(f"{'nfdump filter only (floor)':30} {cells(floor, floor_rss)}")
    if reader is not None:
        print(f"{'nfcapd reader alone':30} {cells(*reader[:2])}  {reader[2].strip()}")
    names = dict.fromkeys(name for name, _ in scans)
    for name in names:
        row = " ".join(cells(*scans[name, d][:2]) for d in dbs)
        print(f"{'chainwatch scan, ' + name:30} {row}")
    print(
        f"{'plain Python csv+ipaddress':30} {cells(naive * n / naive_rows, naive_rss)}  (ran on "
        f"{naive_rows:,} rows in {naive:.2f} s{', scaled to all' if naive_rows != n else ''};"
        " matching only, nothing stored)"
    )
    for name in names:
        print(f"  {name} into SQLite: {scans[name, 'SQLite'][2].strip()}")
    for key, what in (("csv", "CSV"), ("nfcapd", "nfcapd")):
        if key in floors:
            store_seconds, events = floors[key]
            print(
                f"{'SQLite alone, same events':30} {store_seconds:7.2f} s  inserting the {what} "
                f"scan's {events:,} events again (same schema, indexes and pragmas; no Python "
                "per row)"
            )
    if start is not None:
        print(
            f"{'chainwatch scan, one record':30} {start[0]:7.2f} s  what a scan costs before "
            "its first input (Python, imports, a fresh database, the watchlists)"
        )
    print("\ntargets (issue 16):")

    def target(text: str, value: float, ok: bool, unit: str = "x") -> None:
        print(f"  {text:58} {value:8.2f}{unit}  {'pass' if ok else 'FAIL'}")

    for name in ("generic CSV", "Zeek TSV", "nfdump CSV"):
        if (name, "SQLite") in scans:
            times = n / scans[name, "SQLite"][0] / naive_rate
            target(f"{name} >= 2.5x the naive reader, into SQLite", times, times >= 2.5)
    for db_kind in dbs:
        if ("nfcapd", db_kind) in scans:
            times = scans["nfcapd", db_kind][0] / floor
            target(f"nfcapd scan <= 2x bare nfdump, into {db_kind}", times, times <= 2)
    if reader is not None:
        print(f"  {'(nfcapd reader alone / bare nfdump)':58} {reader[0] / floor:8.2f}x")
    if start is not None and ("nfcapd", "SQLite") in scans:
        beyond = (scans["nfcapd", "SQLite"][0] - start[0]) / floor
        print(f"  {'(nfcapd scan less a one-record scan / bare nfdump)':58} {beyond:8.2f}x")
    rss = max(r[1] for r in scans.values()) if scans else naive_rss
    if n >= 5_000_000:
        target(f"peak RSS <= 1 GiB at {n:,} records", rss / GIB, rss <= GIB, " GiB")
    else:
        print(
            f"  peak RSS <= 1 GiB at 5,000,000 records: {rss / 2**20:,.0f} MiB at {n:,};"
            " not measured at 5,000,000 (-n 5000000)"
        )
