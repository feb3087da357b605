"""The pure match + classify stage: events as an Arrow table of the columns the store does not
fix, the detector precedence, and the optional columns a source may give (verdicts, event
overrides, its own source_ref)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from chainwatch.categories import DEFAULT_PORT_RULES
from chainwatch.classify import Classifier
from chainwatch.match import match_batch
from chainwatch.observations import OVERRIDE_SCHEMA, SCHEMA, VERDICT_SCHEMA, Batch
from chainwatch.store.writes import EVENT_COLUMNS, FIXED_EVENT_COLUMNS
from chainwatch.watchlists import RangeMatcher, load_watchlists

T0 = dt.datetime(2019, 5, 6, 10, tzinfo=dt.UTC)
ROWS = [
    # watched -> catalog pool on its port; the payload says btc-pool: the catalog's coin wins
    (T0, "175.45.176.5", "203.0.113.10", 40001, 3333),
    # the other side watched; a bitcoin port rule
    (T0 + dt.timedelta(seconds=5), "198.51.100.7", "175.45.176.6", 8333, 40002),
    # a payload verdict on a port no rule names
    (T0 + dt.timedelta(seconds=1), "175.45.176.7", "198.51.100.8", 40003, 443),
    # watched, unclassified: rollups only
    (T0, "175.45.176.8", "198.51.100.9", 40004, 80),
    # not watched
    (T0, "192.0.2.1", "198.51.100.9", 40005, 8333),
]


def setup(tmp_path: Path) -> tuple[RangeMatcher, Classifier]:
    (tmp_path / "endpoints").mkdir()
    (tmp_path / "kp.txt").write_text("175.45.176.0/22\n")
    (tmp_path / "endpoints" / "pools.toml").write_text(
        '[[endpoints]]\nname = "docpool"\ncategory = "xmr-pool"\nips = ["203.0.113.10"]\n'
    )
    watchlists = load_watchlists(tmp_path)
    matcher = RangeMatcher(watchlists.watchlists)
    return matcher, Classifier(watchlists.endpoints, DEFAULT_PORT_RULES)


def batch(extra: dict[str, list[object]] | None = None, refs: list[str] | None = None) -> Batch:
    ts, src, dst, sport, dport = (list(c) for c in zip(*ROWS, strict=True))
    n = len(ROWS)
    columns: dict[str, pa.Array] = {
        "ts": pa.array(ts, SCHEMA.field("ts").type),
        "src_ip": pa.array(src),
        "dst_ip": pa.array(dst),
        "src_port": pa.array(sport, pa.int64()),
        "dst_port": pa.array(dport, pa.int64()),
        "proto": pa.array(["tcp"] * n),
        "bytes": pa.array([100] * n, pa.int64()),
        "packets": pa.array([1] * n, pa.int64()),
        "uid": pa.nulls(n, pa.string()),
    }
    types = {f.name: f.type for f in [*VERDICT_SCHEMA, *OVERRIDE_SCHEMA]}
    for name, values in (extra or {}).items():
        columns[name] = pa.array(values, types[name])
    raw = [f"record {i}".encode() for i in range(n)]
    return Batch(pa.table(columns), np.arange(2, n + 2), raw, refs=refs)


def verdicts() -> dict[str, list[object]]:
    return {
        "category": ["btc-pool", None, "eth-p2p", None, None],
        "detector": ["payload", None, "payload", None, None],
        "confidence": [0.95, None, 0.95, None, None],
        "endpoint": [None] * 5,
        "facts": ['{"protocol": "stratum"}', None, '{"protocol": "devp2p"}', None, None],
    }


def test_events_hold_the_columns_the_store_does_not_fix(tmp_path: Path) -> None:
    matcher, classifier = setup(tmp_path)
    found = match_batch(
        batch(), matcher=matcher, classifier=classifier, source="flows", name="f.csv", fmt="csv"
    )
    assert (found.records, found.bad, found.classified) == (5, 0, 2)
    assert found.frame is not None and found.frame.num_rows == 4
    assert found.frame.column("category").to_pylist() == ["xmr-pool", "btc-p2p", "other", "other"]
    assert found.events is not None
    wanted = [c for c in EVENT_COLUMNS if c not in FIXED_EVENT_COLUMNS]
    assert found.events.column_names == wanted
    events = found.events.to_pylist()
    assert [e["source_ref"] for e in events] == ["f.csv:2", "f.csv:3"]  # earliest first
    assert [e["direction"] for e in events] == ["outbound", "inbound"]
    assert events[1]["local_ip"] == "175.45.176.6" and events[1]["remote_port"] == 8333
    assert json.loads(events[0]["detail"]) == {"format": "csv", "endpoint": "docpool"}
    assert events[0]["coin"] == "xmr" and events[0]["detector"] == "endpoint"


def test_a_records_own_verdict_comes_first_but_a_catalog_pool_gives_the_coin(
    tmp_path: Path,
) -> None:
    matcher, classifier = setup(tmp_path)
    found = match_batch(
        batch(verdicts()),
        matcher=matcher,
        classifier=classifier,
        source="pcap",
        name="c.pcap",
        fmt="pcap",
    )
    assert found.events is not None
    by_ref = {e["source_ref"]: e for e in found.events.to_pylist()}
    assert set(by_ref) == {"c.pcap:2", "c.pcap:3", "c.pcap:4"}
    pool, rule, payload = by_ref["c.pcap:2"], by_ref["c.pcap:3"], by_ref["c.pcap:4"]
    assert (pool["category"], pool["detector"]) == ("xmr-pool", "payload")
    assert json.loads(pool["detail"])["coin_from"] == "endpoint"
    assert json.loads(pool["detail"])["payload_coin"] == "btc"
    assert (rule["category"], rule["detector"]) == ("btc-p2p", "port")
    assert (payload["category"], payload["detector"]) == ("eth-p2p", "payload")


def test_a_source_gives_its_own_refs_direction_detail_and_connection_key(
    tmp_path: Path,
) -> None:
    matcher, classifier = setup(tmp_path)
    overrides = {
        "direction": [None, "outbound", None, None, None],
        "detail": ['{"node": "a"}', '{"node": "b"}', None, None, None],
        "connection_key": ["peer-a", None, None, None, None],
    }
    refs = [f"http://node.example/{i}" for i in range(5)]
    found = match_batch(
        batch(overrides, refs),
        matcher=matcher,
        classifier=classifier,
        source="btc",
        name="node",
        fmt="node",
    )
    assert found.events is not None and found.connections is not None
    first, second = found.events.to_pylist()
    assert (first["source_ref"], second["source_ref"]) == (refs[0], refs[1])
    assert (first["direction"], second["direction"]) == (None, "outbound")  # as given
    assert (first["detail"], second["detail"]) == ('{"node": "a"}', '{"node": "b"}')
    assert first["connection_key"] == "peer-a"
    assert second["connection_key"].startswith("tcp|175.45.176.6|40002|198.51.100.7|8333|")
    assert found.connections.before.to_pylist()[0] == "peer-a"  # a named key has no window
