"""Matching an nfcapd group's batches at once gives, batch by batch, what matching each alone
gives: counts, rollup rows, classified rows in the same order (ties included), connections and
events (source_ref and evidence hash each of its own file and line)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from chainwatch.classify import Classifier
from chainwatch.match import Matched, match_batch
from chainwatch.match_many import match_many
from chainwatch.observations import SCHEMA, Batch
from chainwatch.watchlists import RangeMatcher
from tests.test_match import setup

T0 = dt.datetime(2019, 5, 6, 10, tzinfo=dt.UTC)
NAMES = ["nfcapd.201905061000", "nfcapd.201905061005", "nfcapd.201905061010", "x"]


def rows(seed: int, n: int) -> list[tuple[dt.datetime, str, str, int, int]]:
    """Flows as nfdump prints them: some watched (either side), pools, node ports, others,
    replies, and starts that tie within and across files."""
    rng = np.random.default_rng(seed)
    found = []
    for i in range(n):
        local = f"175.45.176.{rng.integers(1, 30)}"
        remote = str(rng.choice(["203.0.113.10", "198.51.100.7", "198.51.100.8", "192.0.2.5"]))
        port = int(rng.choice([3333, 8333, 18080, 443, 30303]))
        start = T0 + dt.timedelta(seconds=int(rng.integers(0, 20)))  # many ties
        if i % 7 == 3:
            found.append((start, "192.0.2.1", "198.51.100.9", 40000 + i, 8333))  # not watched
        elif i % 2:
            found.append((start, remote, local, port, 40000 + i))  # the reply
        else:
            found.append((start, local, remote, 40000 + i, port))
    return found


def group(sizes: list[int], bad: str | None = None) -> list[tuple[int, Batch]]:
    """One nfdump output block, cut into one batch per file as the group reader cuts it."""
    texts = []
    tables = []
    for k, n in enumerate(sizes):
        found = rows(k, n)
        if bad is not None and k == 1 and found:
            found[0] = (found[0][0], bad, *found[0][2:])
        texts.append([",".join(str(v) for v in row).encode() + b"\n" for row in found])
        ts, src, dst, sport, dport = (
            (list(c) for c in zip(*found, strict=True)) if found else ([],) * 5
        )
        tables.append(
            pa.table(
                {
                    "ts": pa.array(ts, SCHEMA.field("ts").type),
                    "src_ip": pa.array(src, pa.string()),
                    "dst_ip": pa.array(dst, pa.string()),
                    "src_port": pa.array(sport, pa.int64()),
                    "dst_port": pa.array(dport, pa.int64()),
                    "proto": pa.array(["tcp"] * n, pa.string()),
                    "bytes": pa.array(list(range(n)), pa.int64()),
                    "packets": pa.array([1] * n, pa.int64()),
                    "uid": pa.nulls(n, pa.string()),
                },
                schema=SCHEMA,
            )
        )
    block = b"".join(line for lines in texts for line in lines)
    items, at = [], 0
    for k, lines in enumerate(texts):
        starts = np.cumsum([at, *(len(line) for line in lines)])
        spans = np.stack([starts[:-1], starts[1:]], axis=1) if lines else np.zeros((0, 2), int)
        at = int(starts[-1])
        items.append((k, Batch(tables[k], np.arange(1, len(lines) + 1), block=block, spans=spans)))
    return items


def alone(items: list[tuple[int, Batch]], matcher: RangeMatcher, classifier: Classifier) -> list:
    return [
        (
            k,
            match_batch(
                b,
                matcher=matcher,
                classifier=classifier,
                source="flows",
                name=NAMES[k],
                fmt="nfcapd",
            ),
        )
        for k, b in items
    ]


def same(a: Matched, b: Matched) -> None:
    assert (a.records, a.bytes_read, a.bad, a.bad_examples, a.classified) == (
        b.records,
        b.bytes_read,
        b.bad,
        b.bad_examples,
        b.classified,
    )
    assert (a.frame is None) == (b.frame is None)
    if a.frame is not None and b.frame is not None:
        assert a.frame.equals(b.frame)
    assert a.chosen.tolist() == b.chosen.tolist()
    assert a.rows.tolist() == b.rows.tolist()
    assert (a.events is None) == (b.events is None)
    if a.events is not None and b.events is not None:
        assert a.events.to_pylist() == b.events.to_pylist()
    assert (a.connections is None) == (b.connections is None)
    if a.connections is not None and b.connections is not None:
        for name in ("group", "key", "before", "after"):
            assert (
                getattr(a.connections, name).to_pylist() == getattr(b.connections, name).to_pylist()
            )
        assert a.connections.seconds.tolist() == b.connections.seconds.tolist()


@pytest.mark.parametrize(
    "sizes",
    [
        [40, 0, 25, 60],  # an empty file among others
        [3, 50],  # a file of unwatched and unclassified rows only
        [200, 200, 200],
    ],
)
def test_a_group_matched_at_once_is_each_file_matched_alone(
    tmp_path: Path, sizes: list[int]
) -> None:
    matcher, classifier = setup(tmp_path)
    items = group(sizes)
    together = match_many(
        items, NAMES, "nfcapd", matcher=matcher, classifier=classifier, source="flows"
    )
    one_by_one = alone(items, matcher, classifier)
    assert [k for k, _ in together] == [k for k, _ in one_by_one]
    assert sum(m.classified for _, m in together) > 0  # the test has events to compare
    for (_, a), (_, b) in zip(together, one_by_one, strict=True):
        same(a, b)
    refs = [
        r for _, m in together if m.events is not None for r in m.events["source_ref"].to_pylist()
    ]
    assert {r.rsplit(":", 1)[0] for r in refs} <= set(NAMES)


def test_an_unusable_address_is_told_with_its_own_file_and_line(tmp_path: Path) -> None:
    matcher, classifier = setup(tmp_path)
    items = group([20, 20, 20], bad="not-an-ip")
    together = match_many(
        items, NAMES, "nfcapd", matcher=matcher, classifier=classifier, source="flows"
    )
    assert together[1][1].bad == 1 and together[1][1].bad_examples[0][0] == 1
    for (_, a), (_, b) in zip(together, alone(items, matcher, classifier), strict=True):
        same(a, b)
