"""The CSV readers alone (no matching, no storing): chainwatch's block reader against pyarrow.csv.

Generates the flow benchmark's inputs (``benchmarks/flows.py``: generic CSV as written by Arrow,
nfdump CSV as written by the real nfdump) plus the same generic CSV written by Python's ``csv``
module with ``QUOTE_ALL`` (as pandas and spreadsheets quote), then times, in this process:

- ``chainwatch reader``: ``readers.read_csv`` / ``read_nfdump_csv``: every record's values in the
  normalised schema, its line number and the byte range that its evidence hash covers;
- ``pyarrow.csv strings + exact``: ``pyarrow.csv.open_csv`` with every column read as a string
  (RFC 4180 quoting on), then chainwatch's exact converters (``columns.timestamp``, ``integer``,
  ``text``, ``protocol``) on those strings: the same values, but no line numbers and no raw
  records to hash (pyarrow.csv gives neither), so it is the lower bound of that design;
- ``pyarrow.csv strings only``: the tokenizer alone, for scale.

    python benchmarks/csv_reader.py            # 1,000,000 flows
    python benchmarks/csv_reader.py -n 2000000
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from chainwatch.flows import columns as cols
from chainwatch.flows import readers
from chainwatch.flows.inputs import FlowInput
from chainwatch.observations import Batch

GENERIC = {
    "ts": "ts",
    "src_ip": "src_ip",
    "dst_ip": "dst_ip",
    "src_port": "src_port",
    "dst_port": "dst_port",
    "proto": "proto",
    "bytes": "bytes",
    "packets": "packets",
}
NFDUMP = {
    "ts": "ts",
    "src_ip": "sa",
    "dst_ip": "da",
    "src_port": "sp",
    "dst_port": "dp",
    "proto": "pr",
    "bytes": "ibyt",
    "packets": "ipkt",
}


def quote_all(source: Path, target: Path) -> None:
    """The generic CSV again, every field quoted and CRLF line ends, as ``csv.QUOTE_ALL``
    writes it (pandas' ``to_csv(quoting=csv.QUOTE_ALL)`` gives the same bytes)."""
    with source.open(newline="") as src, target.open("w", newline="") as dst:
        csv.writer(dst, quoting=csv.QUOTE_ALL).writerows(csv.reader(src))


def chainwatch(reader: Callable[[FlowInput], Iterator[Batch]], path: Path) -> int:
    rows = 0  # not hashed first (as a scan does): pyarrow.csv is not timed hashing either
    for batch in reader(FlowInput(path, str(path), path.stat().st_size, sha256="-")):
        rows += batch.table.num_rows
    return rows


def _skip(_row: object) -> str:
    return "skip"  # nfdump's trailing Summary block has other columns


def pyarrow_strings(path: Path, names: dict[str, str], *, convert: bool) -> int:
    with path.open("rb") as handle:
        first = handle.readline().decode()
    header = [c.strip().strip('"') for c in first.rstrip("\r\n").split(",")]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=readers.BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=_skip),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            include_columns=list(names.values()),
            strings_can_be_null=False,
        ),
    )
    rows = 0
    for batch in reader:
        rows += batch.num_rows
        if not convert:
            continue
        problems = cols.Problems(batch.num_rows)
        column = {key: batch.column(name) for key, name in names.items()}.__getitem__
        cols.timestamp(column("ts"), "time", problems, naive_is_utc=names is NFDUMP)
        cols.text(column("src_ip"))
        cols.text(column("dst_ip"))
        cols.integer(column("src_port"), "source port", problems, maximum=65535)
        cols.integer(column("dst_port"), "destination port", problems, maximum=65535)
        cols.protocol(column("proto"))
        cols.integer(column("bytes"), "bytes", problems)
        cols.integer(column("packets"), "packets", problems)
    return rows


def best(work: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = work()
        times.append(time.perf_counter() - started)
    return min(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="flows (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cw-csv-") as tmp:
        work = Path(tmp)
        print(f"generating {args.n:,} flows ...", flush=True)
        flows = Path(__file__).with_name("flows.py")
        subprocess.run(
            [sys.executable, flows, "-n", str(args.n), "--generate", str(work)], check=True
        )
        quote_all(work / "flows.csv", work / "quoted.csv")
        cases = [
            ("generic CSV", work / "flows.csv", readers.read_csv, GENERIC),
            ("generic CSV, QUOTE_ALL", work / "quoted.csv", readers.read_csv, GENERIC),
            ("nfdump CSV", work / "nfdump.csv", readers.read_nfdump_csv, NFDUMP),
        ]
        print(f"\nrecords: {args.n:,}; best of {args.repeat}; records/s (higher is better)")
        for name, path, reader, names in cases:
            size = path.stat().st_size
            ours, n1 = best(lambda: chainwatch(reader, path), args.repeat)  # noqa: B023
            arrow, n2 = best(lambda: pyarrow_strings(path, names, convert=True), args.repeat)  # noqa: B023
            tokens, n3 = best(lambda: pyarrow_strings(path, names, convert=False), args.repeat)  # noqa: B023
            assert n1 == n2 == n3, (name, n1, n2, n3)  # nfpcapd may merge a few flows
            print(f"{name} ({size / 2**20:,.0f} MiB, {n1:,} records):")
            print(f"  {'chainwatch reader':34} {ours:6.2f} s {n1 / ours:>12,.0f} rec/s")
            print(
                f"  {'pyarrow.csv strings + exact':34} {arrow:6.2f} s {n1 / arrow:>12,.0f} "
                f"rec/s  chainwatch {arrow / ours:.2f}x as fast (no line numbers, no raw records)"
            )
            print(f"  {'pyarrow.csv strings only':34} {tokens:6.2f} s {n1 / tokens:>12,.0f} rec/s")


if __name__ == "__main__":
    main()
