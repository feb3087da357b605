"""Benchmark: addresses per second of the vectorised range matcher against 100,000 ranges.

Compares, in one run, chainwatch's ``RangeMatcher`` (from text and from integers) with a plain
``ipaddress`` loop (per address: parse, then look up each prefix length's network in a set,
which is what a careful pure-Python matcher does). Prints throughput, the ratio, and checks
both agree on a sample.

    python benchmarks/match.py [--ranges 100000] [--addresses 5000000]
"""

from __future__ import annotations

import argparse
import ipaddress
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from chainwatch.watchlists import Range, RangeMatcher, RangeTable, Watchlist


def make_ranges(count: int, rng: np.random.Generator) -> list[ipaddress.IPv4Network]:
    prefixes = rng.integers(16, 33, size=count)
    starts = rng.integers(0, 2**32, size=count, dtype=np.uint64)
    networks = {
        ipaddress.IPv4Network((int(s) >> (32 - int(p)) << (32 - int(p)), int(p)))
        for s, p in zip(starts, prefixes, strict=True)
    }
    return sorted(networks)


def naive_matcher(networks: list[ipaddress.IPv4Network]) -> tuple[list[int], dict[int, set[int]]]:
    by_prefix: dict[int, set[int]] = {}
    for network in networks:
        by_prefix.setdefault(network.prefixlen, set()).add(int(network.network_address))
    return sorted(by_prefix, reverse=True), by_prefix


def naive_match(
    addresses: list[str], prefixes: list[int], by_prefix: dict[int, set[int]]
) -> list[int | None]:
    out: list[int | None] = []
    for text in addresses:
        value = int(ipaddress.IPv4Address(text))
        found = None
        for prefix in prefixes:  # most specific first
            if (value >> (32 - prefix) << (32 - prefix)) in by_prefix[prefix]:
                found = prefix
                break
        out.append(found)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranges", type=int, default=100_000)
    parser.add_argument("--addresses", type=int, default=5_000_000)
    parser.add_argument("--naive-sample", type=int, default=200_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)

    networks = make_ranges(args.ranges, rng)
    watchlist = Watchlist("bench", Path("bench.txt"), "", RangeTable.of(Range(n) for n in networks))
    t0 = time.perf_counter()
    matcher = RangeMatcher([watchlist])
    compile_s = time.perf_counter() - t0

    # Half the addresses fall inside ranges, half anywhere.
    n = args.addresses
    starts = np.array([int(net.network_address) for net in networks], dtype=np.uint64)
    sizes = np.array([net.num_addresses for net in networks], dtype=np.uint64)
    pick = rng.integers(0, len(networks), size=n // 2)
    inside = starts[pick] + (rng.integers(0, 2**32, size=n // 2, dtype=np.uint64) % sizes[pick])
    anywhere = rng.integers(0, 2**32, size=n - n // 2, dtype=np.uint64)
    ints = np.concatenate([inside, anywhere])
    rng.shuffle(ints)
    octets = [(ints >> s) & 255 for s in (24, 16, 8, 0)]
    text = pa.array(
        np.char.add(
            np.char.add(
                np.char.add(octets[0].astype(str), "."), np.char.add(octets[1].astype(str), ".")
            ),
            np.char.add(np.char.add(octets[2].astype(str), "."), octets[3].astype(str)),
        ).astype(object)
    )

    t0 = time.perf_counter()
    times = np.zeros(len(ints), dtype=np.int64)  # no dated ranges: times are not looked at
    from_ints = matcher.match_ints(ints, times)
    ints_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    from_text = matcher.match(text, times)
    text_s = time.perf_counter() - t0
    assert np.array_equal(from_ints.range_index, from_text.range_index)

    sample = text.slice(0, args.naive_sample).to_pylist()
    prefixes, by_prefix = naive_matcher(networks)
    t0 = time.perf_counter()
    naive = naive_match(sample, prefixes, by_prefix)
    naive_s = time.perf_counter() - t0
    ours = [networks[i].prefixlen if i >= 0 else None for i in from_text.range_index[: len(sample)]]
    agree = sum(a == b for a, b in zip(ours, naive, strict=True))

    naive_rate = len(sample) / naive_s
    print(
        f"ranges: {len(networks):,} (compiled in {compile_s:.2f} s); addresses: {n:,}; matched {int(from_text.matched.sum()):,}"
    )
    print(f"chainwatch, integers in : {n / ints_s:>14,.0f} addresses/s")
    print(f"chainwatch, text in     : {n / text_s:>14,.0f} addresses/s (parse + match)")
    print(
        f"plain ipaddress loop    : {naive_rate:>14,.0f} addresses/s (text in, {len(sample):,} sample)"
    )
    print(
        f"ratio text/naive        : {n / text_s / naive_rate:>14.1f}x; integers/naive {n / ints_s / naive_rate:.1f}x"
    )
    print(f"agreement on sample     : {agree:,}/{len(sample):,}")


if __name__ == "__main__":
    main()
