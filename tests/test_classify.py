"""The classifier's contract: catalog addresses by their own windows, catalog hosts only
through DNS answers seen within the horizon of the record's time, ``*.`` patterns, priority,
and port rules as the fallback."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import numpy as np
import pytest

from chainwatch.categories import DEFAULT_PORT_RULES
from chainwatch.classify import DNS_HORIZON, Classifier, HostMatch
from chainwatch.passive_dns import Answer
from chainwatch.watchlists import Endpoint, load_watchlists

UTC = dt.UTC
T0 = dt.datetime(2017, 6, 1, 12, tzinfo=UTC)


def endpoint(name: str, category: str = "xmr-pool", **fields: object) -> Endpoint:
    return Endpoint(name=name, category=category, catalog="test", **fields)  # type: ignore[arg-type]


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def stamps(*moments: dt.datetime | None) -> np.ndarray:
    return np.array(
        [
            np.datetime64("NaT", "us")
            if m is None
            else np.datetime64(m.astimezone(UTC).replace(tzinfo=None), "us")
            for m in moments
        ],
        dtype="datetime64[us]",
    )


POOL = endpoint("hostpool", hosts=("pool.example.org",), ports=frozenset({3333}))
SEEN = Answer("pool.example.org", "203.0.113.10", T0, "dns.log:7")


def test_host_matches_only_within_the_horizon_of_an_answer() -> None:
    classifier = Classifier([POOL], {}, [SEEN])
    times = [
        T0,
        T0 + DNS_HORIZON,  # the horizon is inclusive
        T0 - DNS_HORIZON,
        T0 + DNS_HORIZON + dt.timedelta(microseconds=1),
        T0 - dt.timedelta(days=30),
        None,  # an unknown time never matches through an answer
    ]
    result = classifier.classify(["203.0.113.10"] * len(times), [3333] * len(times), stamps(*times))
    assert list(result.endpoint) == ["hostpool"] * 3 + [None] * 3
    assert list(result.answer) == [SEEN] * 3 + [None] * 3


def test_answers_added_later_and_a_custom_horizon() -> None:
    classifier = Classifier([POOL], {}, horizon=dt.timedelta(hours=1))
    mapped = Classifier([endpoint("m", hosts=("Pool.Example.ORG",))], {})
    mapped.add_answers([Answer("pool.example.org", "::ffff:203.0.113.10", T0, "x:2")])
    assert mapped.classify_one("203.0.113.10", 80, T0) is not None  # IPv4-mapped is IPv4
    late = T0 + dt.timedelta(minutes=90)
    assert classifier.classify_one("203.0.113.10", 3333, T0) is None
    classifier.add_answers([SEEN, Answer("other.example.net", "203.0.113.11", T0, "x:1")])
    assert classifier.classify_one("203.0.113.10", 3333, T0) is not None
    assert classifier.classify_one("203.0.113.10", 3333, late) is None
    assert classifier.classify_one("203.0.113.11", 3333, T0) is None  # not a catalog host
    assert classifier.classify_one("203.0.113.10", 4444, T0) is None  # not its port


def test_wildcard_patterns_match_names_strictly_below() -> None:
    wild = endpoint("wild", hosts=("*.mine.example.org",))
    exact = endpoint("exact", category="btc-pool", hosts=("eu.mine.example.org",))
    classifier = Classifier([wild, exact], {})
    assert classifier.match_host("EU.Mine.Example.org.") == HostMatch(wild, "*.mine.example.org")
    assert classifier.match_host("a.b.mine.example.org") == HostMatch(wild, "*.mine.example.org")
    assert classifier.match_host("mine.example.org") is None
    assert classifier.match_host("xmine.example.org") is None
    assert classifier.endpoint_for_host("eu.mine.example.org") is wild  # first endpoint wins
    later = Classifier([exact, wild], {})
    assert later.match_host("eu.mine.example.org") == HostMatch(exact, "eu.mine.example.org")
    # An answer for a name under the pattern ties its address to the endpoint.
    # A literal "*." name is no name: its answer (a wildcard record) ties nothing.
    later.add_answers([Answer("*.mine.example.org", "2001:db8::6", T0, "odd:1")])
    assert later.classify_one("2001:db8::6", 443, T0) is None
    later.add_answers([Answer("x.mine.example.org", "2001:db8::5", T0, "cap.pcap:3")])
    found = later.classify(["2001:db8::5"], [443], stamps(T0))
    assert (found.endpoint[0], found.answer[0].seen_in) == ("wild", "cap.pcap:3")


def test_catalog_addresses_hold_by_their_own_window_and_priority() -> None:
    first = endpoint(
        "dated",
        networks=(net("198.51.100.0/28"),),
        valid_from=dt.date(2017, 1, 1),
        valid_to=dt.date(2017, 12, 31),
    )
    second = endpoint("relay", category="tor", networks=(net("198.51.100.0/24"),))
    classifier = Classifier([first, second], DEFAULT_PORT_RULES)
    times = stamps(
        dt.datetime(2017, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2018, 1, 1, tzinfo=UTC),
        dt.datetime(2016, 12, 31, 23, 59, tzinfo=UTC),
        None,
    )
    result = classifier.classify(["198.51.100.1"] * 4, [1, 1, 1, 1], times)
    assert list(result.endpoint) == ["dated", "relay", "relay", "relay"]
    assert list(result.detector) == ["endpoint"] * 4
    assert list(result.answer) == [None] * 4
    by_port = classifier.classify(["192.0.2.1"], [9001], stamps(T0))
    assert (by_port.category[0], by_port.detector[0]) == ("tor", "port")


def test_naive_time_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Classifier([POOL], {}).classify_one("203.0.113.10", 3333, dt.datetime(2017, 1, 1))


def test_the_answer_named_is_the_one_nearest_the_record() -> None:
    seen = [
        Answer("pool.example.org", "203.0.113.10", T0 + dt.timedelta(days=d), f"f:{d}")
        for d in (0, 2, 4)
    ]
    classifier = Classifier([POOL], {}, list(reversed(seen)))
    times = [
        T0 + dt.timedelta(hours=12),
        T0 + dt.timedelta(days=3, hours=12),
        T0 + dt.timedelta(days=11),
    ]
    result = classifier.classify(["203.0.113.10"] * 3, [3333] * 3, stamps(*times))
    assert [a.seen_in for a in result.answer] == ["f:0", "f:4", "f:4"]


def test_host_and_address_rows_keep_catalog_priority() -> None:
    by_host = endpoint(
        "by-host",
        hosts=("pool.example.org",),
        valid_from=dt.date(2017, 6, 1),
        valid_to=dt.date(2017, 6, 1),
    )
    by_address = endpoint("by-address", category="tor", networks=(net("203.0.113.0/24"),))
    answers = [
        SEEN,
        Answer("pool.example.org", "203.0.113.10", T0 + dt.timedelta(days=5), "later:1"),
    ]
    classifier = Classifier([by_host, by_address], {}, answers)
    times = [T0, T0 + dt.timedelta(days=5), T0 + dt.timedelta(days=30)]
    result = classifier.classify(["203.0.113.10"] * 3, [3333] * 3, stamps(*times))
    # The host row's own window (one day) bounds what its answers can say.
    assert list(result.endpoint) == ["by-host", "by-address", "by-address"]
    assert list(result.answer) == [SEEN, None, None]
    reversed_order = Classifier([by_address, by_host], {}, answers)
    assert reversed_order.classify_one("203.0.113.10", 3333, T0) == result.row(1)


def test_catalog_coin_wins_over_the_payload_coin() -> None:
    import json

    import pyarrow as pa

    from chainwatch.match import with_verdicts

    pool = endpoint("p", networks=(net("203.0.113.0/28"),))
    classifier = Classifier([pool], {})
    found = classifier.classify(["203.0.113.1", "192.0.2.1"], [3333, 3333], stamps(T0, T0))
    records = pa.table(
        {
            "category": ["btc-pool", "btc-pool"],
            "detector": ["payload", "payload"],
            "confidence": [0.95, 0.95],
            "endpoint": [None, None],
            "facts": ["{}", "{}"],
        }
    )
    result, facts = with_verdicts(found, records)
    assert list(result.category) == ["xmr-pool", "btc-pool"]
    assert json.loads(facts[0].as_py()) == {"coin_from": "endpoint", "payload_coin": "btc"}


def test_answers_added_batch_by_batch_extend_what_was_compiled() -> None:
    classifier = Classifier([POOL], {})
    later = Answer("pool.example.org", "203.0.113.10", T0 + dt.timedelta(days=10), "f:2")
    when = stamps(T0 + dt.timedelta(days=9))
    assert classifier.classify(["203.0.113.10"], [3333], when).answer[0] is None
    classifier.add_answers([SEEN])
    assert classifier.classify(["203.0.113.10"], [3333], when).answer[0] is None  # 9 days off
    classifier.add_answers([later, later, SEEN])  # repeats change nothing
    assert classifier.classify(["203.0.113.10"], [3333], when).answer[0] == later
    assert classifier.classify(["203.0.113.10"], [3333], stamps(T0)).answer[0] == SEEN


def test_a_name_matches_only_on_dates_its_own_row_covers(tmp_path: Path) -> None:
    """Two rows of one name, two windows: a TLS/HTTP name at a time between them, or outside
    both, is no endpoint; within either it is, and without a time any row counts."""
    catalog = tmp_path / "endpoints" / "pools.csv"
    catalog.parent.mkdir()
    catalog.write_text(
        "name,category,coin,address,host,port,valid_from,valid_to,source\n"
        "minepool,pool,xmr,,pool.example.org,,2017-01-01,2017-03-31,list\n"
        "minepool,pool,xmr,,pool.example.org,,2017-06-01T00:00:00Z,2017-06-30T12:00:00Z,list\n"
    )
    classifier = Classifier(load_watchlists(tmp_path).endpoints, {})
    at = dt.datetime
    inside = (at(2017, 3, 31, 23, 59, tzinfo=UTC), at(2017, 6, 30, 12, tzinfo=UTC))
    outside = (at(2017, 4, 15, tzinfo=UTC), at(2017, 6, 30, 12, 0, 1, tzinfo=UTC))
    for when in inside:
        found = classifier.match_host("Pool.Example.org", when)
        assert found is not None and found.endpoint.name == "minepool", when
    for when in outside:
        assert classifier.match_host("pool.example.org", when) is None, when
    assert classifier.match_host("pool.example.org") is not None
