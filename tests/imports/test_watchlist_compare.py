"""The interval arithmetic behind the disagreement report, against plain sets of addresses
(hypothesis), and the report's rules on rows as the importers write them."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from chainwatch.imports.watchlist_blocks import difference, merged, size
from chainwatch.imports.watchlist_compare import disagreements, selectors

spans = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=12,
)


def addresses(intervals: list[tuple[int, int]]) -> set[int]:
    return {a for start, end in intervals for a in range(start, end + 1)}


@given(spans, spans)
def test_difference_is_set_difference(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    left, right = merged(a), merged(b)
    assert addresses(left) == addresses(a)
    assert all(x[1] + 1 < y[0] for x, y in itertools.pairwise(left))  # disjoint, apart
    missing = difference(left, right)
    assert addresses(missing) == addresses(a) - addresses(b)
    assert size(missing) == len(addresses(a) - addresses(b))


def test_selectors_come_from_the_notes_first_words() -> None:
    assert selectors("KP; AS131279 Star JV; KP registered") == ["KP", "AS131279", "KP"]
    assert selectors("Star JV office") == []  # a list's free-text note selects nothing
    assert selectors(None) == []


def test_rules_of_comparison() -> None:
    rows = [
        # Two RIR files of different registries: one side, never compared with each other.
        ("175.45.176.0/23", "KP", "rir:delegated-apnic-latest", "2009-12-11", ""),
        ("77.94.35.0/24", "KP", "rir:delegated-ripencc-latest", "2007-05-08", ""),
        # GeoLite2 lacks 77.94.35.0/24 and has 175.45.178.0/24 the RIRs do not.
        ("175.45.176.0/22", "KP", "geolite2:GeoLite2-Country", "", ""),
        # IPv6 only in one source: no IPv6 side to compare with.
        ("2001:db8::/32", "KP", "geolite2:GeoLite2-Country", "", ""),
        # A list row is not a selecting source.
        ("192.0.2.0/24", "KP office", "list:mine.txt", "", ""),
    ]
    assert disagreements(rows) == [
        "KP: 512 IPv4 addresses in GeoLite2-Country but not in "
        "delegated-apnic-latest+delegated-ripencc-latest, e.g. 175.45.178.0/23",
        "KP: 256 IPv4 addresses in delegated-apnic-latest+delegated-ripencc-latest but not in "
        "GeoLite2-Country, e.g. 77.94.35.0/24",
    ]
    assert disagreements(rows[:2]) == []  # one side only
