"""``chainwatch watchlist import`` on routing-table and registry-sized inputs.

1. pfx2as: a generated RouteViews-style file of 1,000,000 prefixes (gzip, as CAIDA ships it):
   IPv4 /32s from 198.18.0.0/15 (RFC 2544's benchmarking block) and IPv6 /48s from
   2001:db8::/32, one in ten originated by AS64496 (some as multi-origin or AS-set lines).
   Imported with ``--asn 64496`` by the real command in a child process: time, ranges written,
   peak RSS (of the largest child so far).
2. rir: a generated delegated-extended file of 250,000 IPv4 records in 240.0.0.0/4 (counts of
   768 addresses, two CIDRs each), one in ten for one country, imported with ``--country``.
3. Reference, in the same run: Python reading the same gzip file line by line and making every
   prefix an ``ipaddress.ip_network`` (the library doing the parsing part of the job alone).

    python benchmarks/watchlist_import.py              # 1,000,000 prefixes
    python benchmarks/watchlist_import.py --lines 100000
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_pfx2as(path: Path, lines: int) -> None:
    v4 = int(ipaddress.IPv4Address("198.18.0.0"))
    v6 = int(ipaddress.IPv6Address("2001:db8::"))
    out = []
    for i in range(lines):
        origin = (
            ("64496", "64497_64496", "64498,64496")[i % 3] if i % 10 == 0 else str(64500 + i % 997)
        )
        if i < 131_072:
            out.append(f"{ipaddress.IPv4Address(v4 + i)}\t32\t{origin}\n")
        else:
            out.append(f"{ipaddress.IPv6Address(v6 + (i << 80))}\t48\t{origin}\n")
    path.write_bytes(gzip.compress("".join(out).encode(), compresslevel=6))


def write_rir(path: Path, records: int) -> None:
    out = [
        f"2.3|apnic|20190101|{records}|19830613|20181231|+1000\n",
        f"apnic|*|ipv4|*|{records}|summary\n",
    ]
    for i in range(records):
        # 240.0.0.0/4 (reserved, never routed) holds 250,000 blocks of 1,024 addresses
        start = ipaddress.IPv4Address((240 << 24) + i * 1024)
        cc = "KP" if i % 10 == 0 else "JP"
        out.append(f"apnic|{cc}|ipv4|{start}|768|20100101|allocated|A{i:08d}\n")
    path.write_text("".join(out))


def run(args: list[str], directory: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "chainwatch", "--watchlists", str(directory / "lists"), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return time.perf_counter() - started, result.stdout.splitlines()[0]


def reference(path: Path) -> float:
    started = time.perf_counter()
    with gzip.open(path, "rt") as handle:
        for line in handle:
            prefix, length, _ = line.split("\t")
            ipaddress.ip_network((prefix, int(length)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=250_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chainwatch-bench-wl-") as tmp:
        directory = Path(tmp)
        pfx2as = directory / "routeviews-rv2-20190101-1200.pfx2as.gz"
        rir = directory / "delegated-apnic-extended-latest"
        write_pfx2as(pfx2as, options.lines)
        write_rir(rir, options.records)
        seconds, line = run(["watchlist", "import", "pfx2as", str(pfx2as), "--name", "as64496",
                             "--asn", "64496"], directory)  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"pfx2as {options.lines:,} lines: {seconds:.1f} s, peak RSS {peak:.0f} MB\n  {line}")
        seconds_rir, line = run(["watchlist", "import", "rir", str(rir), "--name", "kp",
                                 "--country", "KP"], directory)  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"rir {options.records:,} records: {seconds_rir:.1f} s, peak RSS {peak:.0f} MB\n  {line}"
        )
        floor = reference(pfx2as)
        print(
            f"reference: gzip + ipaddress.ip_network over the {options.lines:,} prefixes: "
            f"{floor:.1f} s; the import takes {seconds / floor:.2f}x that"
        )


if __name__ == "__main__":
    main()
