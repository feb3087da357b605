"""The checksum policy, through the real CLI, on captures as Windows writes them on the miner
itself: every packet the capturing host sends has IPv4 and TCP checksum 0 (the network card
fills them in later), while what it receives is intact. ``auto`` keeps that host's packets and
says so once; it still drops packets damaged on the wire (a third host, a minority of its
packets with random wrong checksums); ``validate`` drops all; ``ignore`` keeps all."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainwatch.pcap import checksums
from chainwatch.pcap.capture import Frame
from chainwatch.pcap.decode import Fault, Packet
from chainwatch.store.models import Event, Rollup
from tests.flows.conftest import rows
from tests.pcap.capgen import (
    Talk,
    frames,
    udp,
    write_pcap,
    write_pcapng,
    wrong_tcp_checksum,
    zero_checksums,
)
from tests.pcap.cases import CASES, WALLET, line
from tests.pcap.conftest import scan

T0 = 1700000000.0
MINER = "175.45.176.5"  # the watched Windows host the capture was taken on
THIRD = "175.45.176.9"  # a watched host seen on the same segment, some packets damaged
ETH_POOL, XMR_POOL, BTC_POOL = "203.0.113.20", "198.51.100.30", "203.0.113.40"
ETH_WALLET = "0x8f3c1f4a9d2b6e7c0a1b2c3d4e5f60718293a4b5"
WORKER = "rig1"
XMRIG = next(c for c in CASES if c.name == "xmrig")
DAMAGED = 4  # of THIRD's packets

# Claymore's and ethminer's "ETHPROXY" dialect: eth_submitLogin with the wallet, the worker
# name beside the parameters; then getWork and the hashrate report.
ETH_PROXY = [
    (
        "c",
        line(
            {
                "worker": WORKER,
                "jsonrpc": "2.0",
                "params": [ETH_WALLET, "x"],
                "id": 2,
                "method": "eth_submitLogin",
            }
        ),
    ),
    ("s", line({"id": 2, "jsonrpc": "2.0", "result": True})),
    ("c", line({"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, "method": "eth_getWork"})),
    ("s", line({"id": 3, "jsonrpc": "2.0", "result": ["0x" + "ab" * 32, "0x" + "cd" * 32]})),
    (
        "c",
        line(
            {
                "id": 6,
                "jsonrpc": "2.0",
                "method": "eth_submitHashrate",
                "params": ["0x" + "0" * 56 + "1a2b3c4d", "0x" + "59" * 32],
                "worker": WORKER,
            }
        ),
    ),
]


def windows_capture(*, damaged_third: bool = False) -> tuple[list[tuple[float, bytes]], int]:
    """The Windows miner's conversations (everything it sends with zero checksums) and a
    third host's Stratum session; returns the packets and how many the miner sent."""
    eth = frames(Talk(MINER, ETH_POOL, 50001, 9999, T0, ETH_PROXY))
    xmr = frames(Talk(MINER, XMR_POOL, 50002, 3333, T0 + 5, XMRIG.messages))
    miner = [
        (t, zero_checksums(f)) if f[26:30] == bytes([175, 45, 176, 5]) else (t, f)
        for t, f in eth + xmr
    ]
    sent = sum(1 for _, f in miner if f[26:30] == bytes([175, 45, 176, 5]))
    submits = [
        ("c", line({"id": 10 + i, "method": "mining.submit", "params": [f"bc1qexample.{i}", "4f"]}))
        for i in range(10)
    ]
    third = frames(Talk(THIRD, BTC_POOL, 40009, 3333, T0 + 2, CASES[0].messages + submits))
    if damaged_third:
        rng = random.Random(15)
        own = [i for i, (_, f) in enumerate(third) if f[26:30] == bytes([175, 45, 176, 9])]
        for i in rng.sample(own, DAMAGED):
            t, f = third[i]
            third[i] = (t, wrong_tcp_checksum(f, rng.randrange(1, 0xFFFF)))
    return miner + third, sent


def events_by_category(db_url: str) -> dict[str, Event]:
    found = {e.category: e for e in rows(db_url, Event)}
    assert len(found) == len(rows(db_url, Event))
    return found


@pytest.mark.parametrize("container", ["pcapng", "pcap"])  # Npcap/Wireshark write pcapng
def test_windows_capture_with_zero_checksums_yields_its_pool_events(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, container: str
) -> None:
    packets, sent = windows_capture()
    write = write_pcapng if container == "pcapng" else write_pcap
    path = write(tmp_path / f"windows.{container}", packets)
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    offload = f"{path}: checksums of {MINER} look offloaded; not validated"
    assert result.stderr.count("look offloaded") == 1 and offload in result.stderr, result.stderr
    assert f"{path}: {sent} packets kept despite a wrong checksum" in result.stderr
    assert f"bad 0, bad checksum kept {sent}, bad checksum dropped 0 in" in result.stdout

    events = events_by_category(db_url)
    assert set(events) == {"eth-pool", "xmr-pool", "btc-pool"}
    eth = events["eth-pool"]
    assert (eth.local_ip, eth.remote_ip, eth.remote_port) == (MINER, ETH_POOL, 9999)
    assert eth.detail["message"] == "eth_submitLogin" and eth.detail["wallet"] == ETH_WALLET
    xmr = events["xmr-pool"]
    assert (xmr.local_ip, xmr.remote_ip, xmr.detail["message"]) == (MINER, XMR_POOL, "login")
    assert xmr.detail["wallet"] == WALLET and xmr.detail["agent"].startswith("XMRig/6.21.0")
    # Every packet of the conversations counts, the miner's own included.
    assert eth.packets == len(frames(Talk(MINER, ETH_POOL, 50001, 9999, T0, ETH_PROXY)))
    assert sum(r.packets for r in rows(db_url, Rollup)) == len(packets)


def test_eth_submitlogin_worker_is_a_fact(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    packets, _ = windows_capture()
    path = write_pcap(tmp_path / "windows.pcap", packets)
    assert scan(cli, db_url, wl, "--pcap", path).exit_code == 0
    assert events_by_category(db_url)["eth-pool"].detail.get("worker") == WORKER


@pytest.mark.parametrize("policy", ["auto", "validate", "ignore"])
def test_policies_on_offload_and_wire_damage(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, policy: str
) -> None:
    packets, sent = windows_capture(damaged_third=True)
    path = write_pcap(tmp_path / "windows-and-third.pcap", packets)
    result = scan(cli, db_url, wl, "--pcap", path, "--checksums", policy)
    assert result.exit_code == 0, result.stderr
    events = events_by_category(db_url)
    third = events["btc-pool"]
    assert third.local_ip == THIRD
    total = len(packets)
    if policy == "auto":
        assert result.stderr.count("look offloaded") == 1
        assert f"checksums of {MINER} look offloaded" in result.stderr
        assert f"bad {DAMAGED}, bad checksum kept {sent}, bad checksum dropped {DAMAGED} in" in (
            result.stdout
        )
        assert f"{path}: {DAMAGED} unusable packets skipped" in result.stderr
        assert result.stderr.count("bad TCP checksum") == 3  # the first three are shown
        assert {"eth-pool", "xmr-pool"} <= set(events)
        assert sum(r.packets for r in rows(db_url, Rollup)) == total - DAMAGED
    elif policy == "validate":
        assert "look offloaded" not in result.stderr
        dropped = sent + DAMAGED
        assert f"bad {dropped}, bad checksum kept 0, bad checksum dropped {dropped} in" in (
            result.stdout
        )
        assert "bad IPv4 header checksum" in result.stderr
        # The miner's own messages are gone: no eth login, no wallet; only what the Monero
        # pool sent it (its job) is left to recognise.
        assert "eth-pool" not in events
        assert all("wallet" not in e.detail for e in events.values() if e.local_ip == MINER)
        assert sum(r.packets for r in rows(db_url, Rollup)) == total - dropped
    else:
        assert "look offloaded" not in result.stderr and "bad checksum" not in result.stdout
        assert "skipped 0, bad 0 in" in result.stdout
        assert {"eth-pool", "xmr-pool"} <= set(events)
        assert sum(r.packets for r in rows(db_url, Rollup)) == total


def test_a_lone_query_is_judged_at_the_end(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """Hosts that send too few packets to be judged while the capture runs are judged at its
    end: one UDP query with a zero IPv4 checksum and its intact answer is offload (damage does
    not write zeros); two packets with wrong, non-zero checksums are damage."""
    query = bytearray(udp(MINER, "192.0.2.53", 53001, 53, b"\x12\x34\x01\x00" + b"\x00" * 8))
    query[24:26] = b"\x00\x00"
    answer = udp("192.0.2.53", MINER, 53, 53001, b"\x12\x34\x81\x80" + b"\x00" * 8)
    damaged = [
        bytearray(udp(THIRD, "192.0.2.54", 53002 + i, 53, b"\x56\x78\x01\x00" + b"\x00" * 8))
        for i in range(2)
    ]
    for n, frame in enumerate(damaged):
        frame[24:26] = (0x1234 + n).to_bytes(2, "big")
    replies = [
        udp("192.0.2.54", THIRD, 53, 53002 + i, b"\x56\x78\x81\x80" + b"\x00" * 8) for i in range(2)
    ]
    path = write_pcap(
        tmp_path / "dns.pcap",
        [(T0, bytes(query)), (T0 + 0.1, answer)]
        + [(T0 + 1 + i, bytes(f)) for i, f in enumerate(damaged)]
        + [(T0 + 1.5 + i, f) for i, f in enumerate(replies)],
    )
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert f"{path}: checksums of {MINER} look offloaded; not validated" in result.stderr
    assert result.stderr.count("look offloaded") == 1
    assert f"{path}:3: bad IPv4 header checksum" in result.stderr
    assert "bad 2, bad checksum kept 1, bad checksum dropped 2 in" in result.stdout


def test_checksums_key_of_a_pcap_watcher_and_the_flag_over_it(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packets, sent = windows_capture()
    folder = tmp_path / "ring"
    folder.mkdir()
    write_pcap(folder / "a.pcap", packets)
    config = tmp_path / "cw.toml"
    config.write_text(
        f'[[watchers]]\nname = "span"\nkind = "pcap"\npath = "{folder}"\nchecksums = "validate"\n'
    )
    base = ("--db", db_url, "--watchlists", wl, "--config", config, "scan")
    validated = cli(*base, "--watcher", "span")
    assert validated.exit_code == 0, validated.stderr
    assert f"bad checksum kept 0, bad checksum dropped {sent}" in validated.stdout
    assert "eth-pool" not in events_by_category(db_url)

    write_pcap(folder / "b.pcap", [(t + 3600, f) for t, f in packets])  # a new capture
    monkeypatch.setenv("CHAINWATCH_CHECKSUMS", "auto")  # the environment twin beats the file
    auto = cli(*base, "--watcher", "span")
    assert f"bad checksum kept {sent}, bad checksum dropped 0" in auto.stdout, auto.stdout
    assert f"{folder / 'b.pcap'}: checksums of {MINER} look offloaded" in auto.stderr
    assert "eth-pool" in {e.category for e in rows(db_url, Event)}


def test_checksum_policy_errors_name_the_setting(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = write_pcap(tmp_path / "w.pcap", windows_capture()[0])
    flag = scan(cli, db_url, wl, "--pcap", path, "--checksums", "sometimes")
    assert flag.exit_code == 2
    assert "--checksums 'sometimes': expected one of auto, validate, ignore" in flag.stderr
    for kind, extra in (("pcap", ""), ("flows", 'format = "csv"\n')):
        config = tmp_path / f"{kind}.toml"
        config.write_text(
            f'[[watchers]]\nname = "w"\nkind = "{kind}"\npath = "{path}"\n{extra}'
            'checksums = "off"\n'
        )
        bad = cli("--db", db_url, "--watchlists", wl, "--config", config, "scan")
        assert bad.exit_code == 1, bad.stderr
        line = 5 + bool(extra)  # the errors name the file's line
        assert f"{config}:{line} (watchers #1 'w'): checksums is 'off'" in bad.stderr
        assert "expected one of auto, validate, ignore, on pcap watchers only" in bad.stderr
    assert "Traceback" not in flag.stderr


def test_tight_bounds_give_the_same_verdicts(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room to hold back only two packets and to remember two hosts, hosts are judged
    early (on what they showed so far) and forgotten once valid: the verdicts stay the same."""
    monkeypatch.setattr(checksums, "HOLD", 2)
    monkeypatch.setattr(checksums, "MAX_HOSTS", 2)
    packets, sent = windows_capture(damaged_third=True)
    path = write_pcap(tmp_path / "tight.pcap", packets)
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert f"checksums of {MINER} look offloaded" in result.stderr
    assert f"bad checksum kept {sent}, bad checksum dropped {DAMAGED} in" in result.stdout
    assert {"eth-pool", "xmr-pool", "btc-pool"} == set(events_by_category(db_url))


@settings(max_examples=300, deadline=None)
@given(
    sends=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.sampled_from([None, "zero", "bad"])),
        max_size=60,
    ),
    hold=st.integers(1, 8),
    hosts=st.integers(1, 6),
    policy=st.sampled_from(checksums.POLICIES),
)
def test_gate_releases_or_drops_every_packet_once_in_order(
    sends: list[tuple[int, int, str | None]], hold: int, hosts: int, policy: str
) -> None:
    """Whatever the hosts send and however tight the bounds: each packet comes out once or is
    dropped once, what comes out keeps capture order, and the counts add up."""
    faults = {
        n: None if kind is None else Fault("bad TCP checksum", kind == "zero")
        for n, (_, _, kind) in enumerate(sends, start=1)
    }
    saved = checksums.HOLD, checksums.MAX_HOSTS, checksums.checksum_fault
    checksums.HOLD, checksums.MAX_HOSTS = hold, hosts
    checksums.checksum_fault = lambda data, packet: faults[int(data)]
    try:
        dropped: list[int] = []
        gate = checksums.Gate(policy, lambda number, reason: dropped.append(number))
        out: list[int] = []
        for n, (src, dst, _) in enumerate(sends, start=1):
            packet = Packet(
                4, bytes([192, 0, 2, src]), bytes([192, 0, 2, dst]), 6, 1, 2, 0, 0, b"", 40, 0, 0, 0
            )
            out += [
                f.number for f, _ in gate.push(Frame(n, float(n), 1, str(n).encode(), 40), packet)
            ]
        out += [f.number for f, _ in gate.flush()]
    finally:
        checksums.HOLD, checksums.MAX_HOSTS, checksums.checksum_fault = saved
    assert out == sorted(out) and not gate.holding
    assert sorted(out + dropped) == list(range(1, len(sends) + 1))
    wrong = sum(f is not None for f in faults.values())
    if policy == "ignore":
        assert dropped == [] and gate.kept == 0
    else:
        assert gate.kept + gate.dropped == wrong and gate.dropped == len(dropped)
    if policy == "validate":
        assert gate.kept == 0 and gate.offloaded == []
