"""Loading big watchlists against a bare ``ipaddress.ip_network`` loop, and nfdump's filter speed
with many ranges, in one run.

1. Writes one set of N ranges (default 1,000,000: IPv4 and IPv6 mixed, prefix lengths /16-/32
   and /40-/128, often nested, every 7th with a validity window; tests/watchlists/bigfiles.py)
   as TOML, plain text and CSV. For each form it times, back to back, the reference (a bare
   ``ipaddress.ip_network`` loop over the same CIDR texts, the cheapest way Python reads them)
   and chainwatch reading the file and compiling the matcher, and prints both and the ratio
   (the target: at most 2). For TOML it also times the parse alone (``tomli.loads``, which chainwatch uses, and
   the standard ``tomllib.loads`` it replaced).
2. Makes nfcapd files with the real nfpcapd (the flows of benchmarks/flows.py) and times
   ``nfdump -R DIR -f FILTER -q -o csv > /dev/null`` with the filter chainwatch writes for
   3 ranges and for 100,000 ranges (``chainwatch.flows.nfdump_filter``).

    python benchmarks/watchlists.py                 # 1,000,000 ranges, 500,000 flows
    python benchmarks/watchlists.py -n 200000 --flows 0
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import tomli

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import flows as flow_bench  # noqa: E402  (benchmarks/flows.py: its flow generator)

from chainwatch.flows.nfdump_filter import filter_text  # noqa: E402
from chainwatch.watchlists import RangeMatcher, WatchlistSet  # noqa: E402
from chainwatch.watchlists.loader import load_watchlist  # noqa: E402
from tests.watchlists import bigfiles  # noqa: E402

KP = ["175.45.176.0/22", "210.52.109.0/24", "77.94.35.0/24"]


def timed(function: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` runs (the machine is shared; the best run is the least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def loading(work: Path, count: int, repeat: int) -> None:
    cidrs = bigfiles.cidrs(count)
    v6 = sum(":" in c for c in cidrs)
    dated = sum(1 for i in range(count) if bigfiles.window(i)[0])
    print(
        f"ranges: {count:,} ({count - v6:,} IPv4, {v6:,} IPv6; {dated:,} with a window), "
        f"best of {repeat}"
    )
    files = {
        "toml": bigfiles.write_toml(work / "big.toml", cidrs),
        "txt": bigfiles.write_text(work / "big.txt", cidrs),
        "csv": bigfiles.write_csv(work / "big.csv", cidrs),
    }
    print(f"{'form':<6}{'ip_network loop':>17}{'chainwatch':>12}{'ratio':>8}   of which")
    for form, path in files.items():
        reference = timed(lambda: [ipaddress.ip_network(c) for c in cidrs], repeat)
        parts: dict[str, float] = {}

        def load(path: Path = path, parts: dict[str, float] = parts) -> None:
            started = time.perf_counter()
            watchlist = load_watchlist(path)
            loaded = time.perf_counter()
            matcher = RangeMatcher([watchlist])
            parts["load"], parts["compile"] = loaded - started, time.perf_counter() - loaded
            assert len(matcher) == count

        ours = timed(load, repeat)
        note = f"read {parts['load']:.2f} s + compile {parts['compile']:.2f} s (last run)"
        if form == "toml":
            text = path.read_text()
            fast = timed(lambda text=text: tomli.loads(text), repeat)
            slow = timed(lambda text=text: tomllib.loads(text), repeat)
            note += (
                f"; parse alone: tomli {fast:.2f} s = {fast / reference:.2f}x the loop, "
                f"tomllib {slow:.2f} s = {slow / reference:.2f}x"
            )
        print(f"{form:<6}{reference:>15.2f} s{ours:>10.2f} s{ours / reference:>7.2f}x   {note}")


def nfdump_filter_speed(work: Path, flows: int, repeat: int) -> None:
    f = flow_bench.flows(flows)
    flow_bench.write_pcap(work / "flows.pcap", f)
    nfcapd = work / "nfcapd"
    nfcapd.mkdir()
    subprocess.run(
        ["nfpcapd", "-r", work / "flows.pcap", "-w", nfcapd, "-B", "2000000"],
        check=True,
        capture_output=True,
    )
    (work / "flows.pcap").unlink()
    many = KP + bigfiles.cidrs(100_000 - len(KP))
    results = {}
    for label, ranges in (("3 ranges", KP), ("100,000 ranges", many)):
        directory = work / label.replace(" ", "_").replace(",", "")
        directory.mkdir()
        bigfiles.write_text(directory / "w.txt", ranges)
        watchlist = load_watchlist(directory / "w.txt")
        filter_file = directory / "filter"
        filter_file.write_text(filter_text(WatchlistSet(directory, (watchlist,))))
        argv = ["nfdump", "-R", str(nfcapd), "-f", str(filter_file), "-q", "-o", "csv"]
        kept = subprocess.run(argv, check=True, capture_output=True).stdout.count(b"\n")

        def run(argv: list[str] = argv) -> None:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

        results[label] = timed(run, repeat)
        print(f"nfdump -R ({flows:,} flows) -f <{label}>: {results[label]:.2f} s, {kept:,} kept")
    ratio = results["100,000 ranges"] / results["3 ranges"]
    print(f"nfdump with 100,000 ranges / with 3: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--ranges", type=int, default=1_000_000)
    parser.add_argument("--flows", type=int, default=500_000, help="0: skip the nfdump part")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cw-watchlists-") as tmp:
        work = Path(tmp)
        loading(work, args.ranges, args.repeat)
        if args.flows:
            nfdump_filter_speed(work, args.flows, args.repeat + 1)


if __name__ == "__main__":
    main()
