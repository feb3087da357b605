"""Each protocol chainwatch recognises, through the real CLI: on its usual port and on others,
with the watched address as client and as server, cut into tiny segments, out of order and
retransmitted. The stored event must carry the protocol's category, detector ``payload``, the
payload facts, and cite the packet that completed the first recognised message."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from chainwatch.pcap import capture
from chainwatch.store.models import Event, Rollup
from tests.flows.conftest import rows
from tests.pcap.capgen import Talk, frames, write_pcap
from tests.pcap.cases import CASES, Case
from tests.pcap.conftest import scan

T0 = 1558000000.0  # 2019-05-16 09:46:40 UTC


def talks(case: Case) -> list[Talk]:
    return [
        # A watched client on the protocol's own port, whole messages.
        Talk("175.45.176.5", "203.0.113.20", 40001, case.port, T0, case.messages),
        # ... on a port that says nothing, 3 bytes per segment (less than a magic), pairs swapped.
        Talk(
            "175.45.176.6",
            "203.0.113.21",
            40002,
            443 if case.port != 443 else 45560,
            T0 + 10,
            case.messages,
            segment=3,
            swap_pairs=True,
        ),
        # A watched server (the watched side answers), segments sent twice.
        Talk(
            "198.51.100.30",
            "175.45.176.7",
            50000,
            45560,
            T0 + 20,
            case.messages,
            segment=50,
            retransmit=True,
        ),
    ]


def frame_digests(path: Path) -> dict[int, str]:
    with path.open("rb") as handle:
        return {
            f.number: hashlib.sha256(f.data).hexdigest()
            for f in capture.frames(handle, lambda n, r: None)
        }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_protocol_recognised_on_any_port_either_side(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, case: Case
) -> None:
    path = write_pcap(tmp_path / f"{case.name}.pcap", [f for t in talks(case) for f in frames(t)])
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert "read 3, watched 3, classified 3, stored 3" in result.stdout, result.stdout

    events = sorted(rows(db_url, Event), key=lambda e: e.observed_at)
    assert [(e.local_ip, e.remote_ip, e.remote_port, e.direction) for e in events] == [
        ("175.45.176.5", "203.0.113.20", case.port, "outbound"),
        ("175.45.176.6", "203.0.113.21", 443 if case.port != 443 else 45560, "outbound"),
        ("175.45.176.7", "198.51.100.30", 50000, "inbound"),
    ]
    digests = frame_digests(path)
    for event in events:
        assert (event.category, event.detector) == (case.category, case.detector)
        assert event.confidence == pytest.approx(case.confidence)
        detail = event.detail
        assert detail["format"] == "pcap"
        assert {k: detail.get(k) for k in case.facts} == case.facts, detail
        name, _, number = event.source_ref.rpartition(":")
        assert name == str(path)
        # The cited packet is real and its frame is what the evidence hash covers.
        assert event.evidence_sha256 == digests[int(number)]
        assert event.packets > 3 and event.bytes > 0
    assert sum(r.events for r in rows(db_url, Rollup)) == 3


def test_only_the_pool_side_captured(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """Asymmetric routing: only the pool's messages (notify / job) pass the sensor."""
    stratum, xmrig = CASES[0], next(c for c in CASES if c.name == "xmrig")
    conversations = [
        Talk(
            "175.45.176.5",
            "203.0.113.20",
            40001,
            3333,
            T0,
            [m for m in stratum.messages if m[0] == "s"],
        ),
        Talk(
            "175.45.176.6",
            "203.0.113.21",
            40002,
            8080,
            T0 + 5,
            [m for m in xmrig.messages if m[0] == "s"],
        ),
    ]
    packets = [
        f
        for t in conversations
        for f in frames(t)
        if not f[1][26:30].startswith(b"\xaf\x2d")  # drop the watched side's packets (175.45)
    ]
    path = write_pcap(tmp_path / "pool-side.pcap", packets)
    assert scan(cli, db_url, wl, "--pcap", path).exit_code == 0
    found = sorted((e.local_ip, e.category, e.detail["message"]) for e in rows(db_url, Event))
    assert found == [
        ("175.45.176.5", "pool", "mining.set_difficulty"),  # nothing names the coin
        ("175.45.176.6", "xmr-pool", "job"),
    ]
