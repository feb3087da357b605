"""The vectorised matcher against the standard library's ipaddress, on random ranges."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from chainwatch.watchlists import Range, RangeMatcher, RangeTable, Watchlist, parse_ips


def _watchlist(
    name: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> Watchlist:
    unique = list(dict.fromkeys(networks))
    return Watchlist(
        name=name,
        path=Path(f"{name}.txt"),
        sha256="",
        table=RangeTable.of(Range(n) for n in unique),
    )


def _expected(watchlists: list[Watchlist], address: str) -> tuple[str, str] | None:
    """Reference: the most specific range containing the address; ties by watchlist name."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    best = None
    for watchlist in sorted(watchlists, key=lambda w: w.name):
        for item in watchlist.ranges:
            inside = ip.version == item.network.version and ip in item.network
            if inside and (best is None or item.network.prefixlen > best[2]):
                best = (watchlist.name, item.cidr, item.network.prefixlen)
    return None if best is None else (best[0], best[1])


def networks(version: int) -> st.SearchStrategy[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    bits = 32 if version == 4 else 128
    # Cluster ranges in a small space so that nesting and overlap (shared blocks) are common.
    base = 0xC0000200 if version == 4 else 0x20010DB8 << 96
    span = 16 if version == 4 else 20

    def build(offset: int, prefix: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        value = base + offset
        return ipaddress.ip_network((value >> (bits - prefix) << (bits - prefix), prefix))

    return st.builds(build, st.integers(0, 2**span - 1), st.integers(bits - span, bits))


def addresses(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    base = 0xC0000200 if version == 4 else 0x20010DB8 << 96
    near = st.integers(0, 2**17).map(lambda o: str(ipaddress.ip_address(base + o)))
    anywhere = st.integers(0, 2**bits - 1).map(
        lambda v: str(ipaddress.ip_address(v) if version == 6 else ipaddress.IPv4Address(v))
    )
    return st.one_of(near, anywhere)


@settings(max_examples=150, deadline=None)
@given(
    lists=st.lists(
        st.lists(st.one_of(networks(4), networks(6)), min_size=0, max_size=12),
        min_size=1,
        max_size=3,
    ),
    queries=st.lists(
        st.one_of(
            addresses(4), addresses(6), st.sampled_from(["", "junk", "1.2.3", "300.1.1.1", "::g"])
        ),
        max_size=60,
    ),
)
def test_matches_ipaddress_reference(
    lists: list[list[ipaddress.IPv4Network | ipaddress.IPv6Network]], queries: list[str]
) -> None:
    watchlists = [_watchlist(f"w{i}", nets) for i, nets in enumerate(lists)]
    matcher = RangeMatcher(watchlists)
    result = matcher.match(queries, [None] * len(queries))
    names, cidrs = result.watchlist_names(), result.cidrs()
    for i, address in enumerate(queries):
        expected = _expected(watchlists, address)
        got = None if names[i] is None else (names[i], cidrs[i])
        assert got == expected, (address, got, expected)


def test_edges_of_the_address_space() -> None:
    everything = ipaddress.ip_network("0.0.0.0/0")
    top6 = ipaddress.ip_network("ffff::/16")
    matcher = RangeMatcher(
        [_watchlist("all", [everything, ipaddress.ip_network("255.255.255.255/32"), top6])]
    )
    result = matcher.match(
        [
            "0.0.0.0",
            "255.255.255.255",
            "255.255.255.254",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fffe::",
        ],
        [None] * 5,
    )
    assert list(result.cidrs()) == [
        "0.0.0.0/0",
        "255.255.255.255/32",
        "0.0.0.0/0",
        "ffff::/16",
        None,
    ]


def test_accepts_arrow_and_numpy_and_padding() -> None:
    matcher = RangeMatcher([_watchlist("kp", [ipaddress.ip_network("175.45.176.0/22")])])
    values = ["  175.45.176.7 ", "175.45.180.1", None]
    for form in (
        pa.array(values),
        pa.chunked_array([pa.array(values)]),
        np.array(values, dtype=object),
        pa.array(values).dictionary_encode(),
    ):
        assert list(matcher.match(form, [None] * 3).matched) == [True, False, False]


def test_parse_ips_rejects_leading_zeros_and_ipv4_mapped_is_v4() -> None:
    """An IPv4-mapped address is the IPv4 address (issue 21); a zone is not the address."""
    parsed = parse_ips(["010.0.0.1", "::ffff:192.0.2.1", "192.0.2.1", "2001:db8::1%eth0"])
    assert list(parsed.version) == [0, 4, 4, 6]
    assert parsed.v4[1] == parsed.v4[2]
    assert parsed.v6[3] == ipaddress.ip_address("2001:db8::1").packed


def test_match_ints_matches_numeric_input() -> None:
    matcher = RangeMatcher(
        [
            _watchlist(
                "doc", [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32")]
            )
        ]
    )
    assert list(
        matcher.match_ints([int(ipaddress.ip_address("192.0.2.9")), 1], [None] * 2).range_index
    ) == [
        0,
        -1,
    ]
    packed = [ipaddress.ip_address("2001:db8::5").packed, ipaddress.ip_address("2001:db9::").packed]
    assert list(matcher.match_ints(packed, [None] * 2, version=6).range_index) == [1, -1]


BASE = dt.datetime(2017, 1, 1, tzinfo=dt.UTC)
EDGES = [dt.timedelta(0), dt.timedelta(microseconds=-1), dt.timedelta(microseconds=1)]


def dated(version: int) -> st.SearchStrategy[Range]:
    """A range with an optional window of whole days (bounds on day edges, so records on the
    edges and a microsecond either side are common)."""
    day = st.one_of(st.none(), st.integers(0, 12))

    def build(network: Any, start: int | None, stop: int | None) -> Range:
        if start is not None and stop is not None and stop < start:
            start, stop = stop, start
        return Range(
            network,
            valid_from=None if start is None else BASE + dt.timedelta(days=start),
            valid_to=None if stop is None else BASE + dt.timedelta(days=stop),
        )

    return st.builds(build, networks(version), day, day)


def times() -> st.SearchStrategy[dt.datetime | None]:
    moment = st.builds(
        lambda d, e: BASE + dt.timedelta(days=d) + e, st.integers(-1, 13), st.sampled_from(EDGES)
    )
    return st.one_of(st.none(), moment)


def _expected_at(
    watchlists: list[Watchlist], address: str, when: dt.datetime | None
) -> tuple[str, str] | None:
    """Reference: the most specific range containing the address whose window holds the time
    (no time: undated ranges only); ties go to the first by watchlist name, then file order."""
    ip = ipaddress.ip_address(address)
    best = None
    for watchlist in sorted(watchlists, key=lambda w: w.name):
        for item in watchlist.ranges:
            if ip.version != item.network.version or ip not in item.network:
                continue
            if item.valid_from is not None or item.valid_to is not None:
                if when is None:
                    continue
                if item.valid_from is not None and when < item.valid_from:
                    continue
                if item.valid_to is not None and when > item.valid_to:
                    continue
            if best is None or item.network.prefixlen > best[2]:
                best = (watchlist.name, item.cidr, item.network.prefixlen)
    return None if best is None else (best[0], best[1])


@settings(max_examples=200, deadline=None)
@given(
    lists=st.lists(
        st.lists(st.one_of(dated(4), dated(6)), min_size=0, max_size=12), min_size=1, max_size=3
    ),
    queries=st.lists(
        st.tuples(st.one_of(addresses(4), addresses(6)), times()), min_size=1, max_size=60
    ),
)
def test_dated_ranges_match_by_record_time(
    lists: list[list[Range]], queries: list[tuple[str, dt.datetime | None]]
) -> None:
    watchlists = [
        Watchlist(f"w{i}", Path(f"w{i}.csv"), "", RangeTable.of(dict.fromkeys(ranges)))
        for i, ranges in enumerate(lists)
    ]
    matcher = RangeMatcher(watchlists)
    when = [t for _, t in queries]
    result = matcher.match([a for a, _ in queries], when)
    names, cidrs = result.watchlist_names(), result.cidrs()
    for i, (address, moment) in enumerate(queries):
        got = None if names[i] is None else (names[i], cidrs[i])
        assert got == _expected_at(watchlists, address, moment), (address, moment)
    # Arrow timestamps and numpy datetime64 give the same answer as datetimes.
    stamps = pa.array(when, pa.timestamp("us", tz="UTC"))
    assert np.array_equal(
        matcher.match([a for a, _ in queries], stamps).range_index, result.range_index
    )
    # The time-blind prefilter covers every address that matches at some time.
    v4 = [i for i, (a, _) in enumerate(queries) if ipaddress.ip_address(a).version == 4]
    keys = [int(ipaddress.ip_address(queries[i][0])) for i in v4]
    assert all(matcher.covers_ints(keys)[result.matched[v4]]) if v4 else True
