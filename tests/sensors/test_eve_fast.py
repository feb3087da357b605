"""The Arrow path for plain flow records reads exactly what the line-by-line reader reads:
the same rows, lines, evidence hashes, bad lines and answers, whatever the mix of records
(odd values on purpose: no ports, missing counts, numeric protocols, zones, times outside the
window, flows borrowing a sensor record's verdict, broken lines that make Arrow refuse a
block)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainwatch.classify import Classifier
from chainwatch.flows.inputs import describe
from chainwatch.sensors.eve import EveReader
from chainwatch.sensors.signatures import SuricataSettings, signature_map
from chainwatch.watchlists import Endpoint
from tests.sensors.conftest import POOL_HOST, alert, event, flow, lines, stamp, tuple_of


def variants(rng: random.Random, i: int) -> dict[str, Any] | str:
    five = tuple_of(
        f"175.45.176.{i % 200 + 1}",
        40000 + i,
        f"198.51.100.{i % 50 + 1}",
        rng.choice([443, 3333, 8333]),
        rng.choice(["TCP", "UDP", "6", "tcp"]),
    )
    record = flow(i + 60, 5000 + i, i + 1, five)
    kind = rng.randrange(14)
    if kind == 0:  # ICMP: no ports
        record = flow(
            i + 60, 5000 + i, i + 1, tuple_of("175.45.176.9", None, "198.51.100.9", None, "ICMP")
        )
    elif kind == 1:
        del record["flow"]["bytes_toclient"]
    elif kind == 2:
        record["timestamp"] = stamp(i + 60, "-0500")
        record["flow"]["start"] = stamp(i + 1, "+0130")
    elif kind == 3:
        record["flow"]["start"] = "1980-01-01T00:00:00.000000+0000"  # outside the window
    elif kind == 4:
        del record["flow"]["start"]  # then the event's own time
    elif kind == 5:
        record["dest_port"] = 70000
    elif kind == 6:
        record["timestamp"] = "2019-05-06 08:00:00"  # no zone, not ISO's T
    elif kind == 7:  # an alert (counted) for the connection of a flow further on
        return alert(
            i + 2, 5000 + i + 1, five, 2022886, 4, "ET COINMINER Crypto Coin Miner Login", "x"
        )
    elif kind == 8:
        return event("tls", i, 5000 + i + 1, **five, tls={"sni": POOL_HOST})
    elif kind == 9:
        return event("stats", i, None, stats={"uptime": i})
    elif kind == 10:
        del record["proto"]
    elif kind == 11:
        record["flow_id"] = None
    elif kind == 12 and rng.random() < 0.2:
        return '{"event_type": "flow", "src_port": "oops"}'  # Arrow refuses the whole block
    return record


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_and_careful_paths_agree(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr("chainwatch.sensors.eve.BLOCK", 4096)  # many blocks, some refused
    path = tmp_path / "eve.json"
    path.write_text(lines([variants(rng, i) for i in range(600)]))
    catalog = [Endpoint(name="supportxmr", category="xmr-pool", catalog="t", hosts=(POOL_HOST,))]
    results = []
    for fast in (True, False):
        reader = EveReader(
            describe(path), Classifier(catalog, {}), signature_map(SuricataSettings()), fast=fast
        )
        got: list[tuple[Any, ...]] = []
        bad: list[tuple[int, str]] = []
        for batch in reader.batches():
            digests = batch.digests_for(np.arange(batch.table.num_rows))
            for row, line, digest in zip(
                batch.table.to_pylist(), batch.lines.tolist(), digests, strict=True
            ):
                got.append((line, digest, tuple(sorted(row.items()))))
            bad.extend(batch.bad_examples)
        results.append((sorted(got), sorted(bad), reader.summary()))
    assert results[0] == results[1]
    assert len(results[0][0]) > 300  # most lines became rows
    assert any(
        row[2][0] == ("bytes", None) for row in results[0][0]
    )  # a missing count stays missing
