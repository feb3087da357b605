"""A mixed capture whose events are known exactly: recognised protocols from watched
addresses (IPv4 and IPv6, either side), the same protocol from an unwatched address, ordinary
traffic, UDP, ICMP and ARP. Also: link types and containers, rescans, and ordinary JSON-RPC
that must not be called mining."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path
from typing import Any

import dpkt

from chainwatch.pcap import capture
from chainwatch.store.models import Event, Input, Rollup
from tests.flows.conftest import rows
from tests.pcap.capgen import Talk, frames, ip_frame, udp, write_pcap, write_pcapng
from tests.pcap.cases import CASES, http_post, line
from tests.pcap.conftest import scan

T0 = 1558000000.0
BY_NAME = {c.name: c for c in CASES}


def conversation(name: str, client: str, server: str, port: int, at: float) -> Talk:
    return Talk(client, server, 40000 + int(at) % 1000, port, at, BY_NAME[name].messages)


MIXED = [
    conversation("stratum", "175.45.176.5", "203.0.113.20", 3333, T0),
    conversation("xmrig", "198.51.100.40", "175.45.176.6", 443, T0 + 10),  # watched server
    conversation("bitcoin-mainnet", "175.45.176.7", "198.51.100.7", 8333, T0 + 20),
    conversation("monero-levin", "175.45.176.7", "198.51.100.8", 28080, T0 + 30),
    conversation("tls-sni", "175.45.176.8", "203.0.113.99", 443, T0 + 40),
    conversation("getwork", "210.52.109.9", "203.0.113.30", 80, T0 + 50),  # not watched here
    conversation("stratum", "2001:db8:1::5", "2001:db8:ff::9", 14444, T0 + 60),
    conversation("stratum", "192.0.2.10", "203.0.113.20", 3333, T0 + 70),  # unwatched
    Talk(
        "175.45.176.9",
        "198.51.100.50",
        40100,
        80,
        T0 + 80,
        [("c", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"), ("s", b"HTTP/1.1 200 OK\r\n\r\nhi")],
    ),
    Talk("175.45.176.9", "198.51.100.7", 40101, 8333, T0 + 90, [("c", b"hello, not bitcoin")]),
]
# (local, remote, remote port, direction, category, detector, conversation whose first message
# is the evidence)
EXPECTED = [
    ("175.45.176.5", "203.0.113.20", 3333, "outbound", "btc-pool", "payload", 0),
    ("175.45.176.6", "198.51.100.40", 40010, "inbound", "xmr-pool", "payload", 1),
    ("175.45.176.7", "198.51.100.7", 8333, "outbound", "btc-p2p", "payload", 2),
    ("175.45.176.7", "198.51.100.8", 28080, "outbound", "xmr-p2p", "payload", 3),
    ("175.45.176.8", "203.0.113.99", 443, "outbound", "xmr-pool", "endpoint", 4),
    ("2001:db8:1::5", "2001:db8:ff::9", 14444, "outbound", "btc-pool", "payload", 6),
    ("175.45.176.9", "198.51.100.7", 8333, "outbound", "btc-p2p", "port", None),
]


def extras() -> list[tuple[float, bytes]]:
    icmp = dpkt.icmp.ICMP(type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"ping"))
    arp = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\xff" * 6, type=0x0806, data=b"\x00" * 28)
    return [
        (T0 + 100, udp("175.45.176.9", "192.0.2.53", 5353, 53, b"\x12\x34" + b"\x00" * 10)),
        (T0 + 101, udp("192.0.2.53", "175.45.176.9", 53, 5353, b"\x12\x34" + b"\x80" * 10)),
        (T0 + 102, ip_frame("175.45.176.9", "192.0.2.1", icmp, 1)),
        (T0 + 103, bytes(arp)),
    ]


def packet_number(path: Path, payload: bytes, after: float) -> int:
    """The number of the first packet from ``after`` on whose TCP payload is ``payload``."""
    with path.open("rb") as handle:
        for frame in capture.frames(handle, lambda n, r: None):
            eth = dpkt.ethernet.Ethernet(frame.data)
            if frame.ts < after:
                continue
            if isinstance(eth.data.data, dpkt.tcp.TCP) and eth.data.data.data == payload:
                return frame.number
    raise AssertionError("no such packet")


def test_mixed_capture_gives_exactly_the_expected_events(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = write_pcap(tmp_path / "mixed.pcap", [f for t in MIXED for f in frames(t)] + extras())
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    # 10 conversations, 1 UDP exchange, 1 ICMP; of these, 2 involve no watched address.
    assert "read 10, watched 10, classified 7, stored 7, skipped 0, bad 0" in result.stdout

    got = sorted(
        (e.local_ip, e.remote_ip, e.remote_port, e.direction, e.category, e.detector, e.source_ref)
        for e in rows(db_url, Event)
    )
    want = sorted(
        (
            *row[:6],
            f"{path}:"
            + str(
                packet_number(path, MIXED[row[6]].messages[0][1], MIXED[row[6]].at)
                if row[6] is not None
                else packet_number(path, b"hello, not bitcoin", T0) - 3  # its SYN: first packet
            ),
        )
        for row in EXPECTED
    )
    assert got == want
    rollups = {(r.category): (r.records, r.events) for r in rows(db_url, Rollup)}
    assert rollups == {
        "btc-pool": (2, 2),
        "xmr-pool": (2, 2),
        "btc-p2p": (2, 2),
        "xmr-p2p": (1, 1),
        "other": (3, 0),  # HTTP, UDP, ICMP
    }
    other = [r for r in rows(db_url, Rollup) if r.category == "other"]
    assert (
        sum(r.packets for r in other) == 8 + 2 + 1
    )  # HTTP (handshake, 2 messages, FINs), UDP, ICMP


def test_link_types_and_containers_read_alike(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """Ethernet, raw IP, Linux cooked (SLL, SLL2), BSD loopback, pcapng with two interfaces,
    nanosecond pcap, gzip and VLAN tags: the same conversation, each at its own time, one
    event each."""
    folder = tmp_path / "captures"
    folder.mkdir()

    def talk(i: int) -> list[tuple[float, bytes]]:
        return frames(conversation("stratum", "175.45.176.5", "203.0.113.20", 3333, T0 + 1000 * i))

    def strip(packets: list[tuple[float, bytes]], prefix: bytes) -> list[tuple[float, bytes]]:
        return [(t, prefix + f[14:]) for t, f in packets]

    write_pcap(folder / "0-ethernet.pcap", talk(0))
    write_pcap(folder / "1-raw.pcap", strip(talk(1), b""), linktype=101)
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800)
    write_pcap(folder / "2-sll.pcap", strip(talk(2), sll), linktype=113)
    write_pcap(folder / "3-null.pcap", strip(talk(3), struct.pack("<I", 2)), linktype=0)
    write_pcap(folder / "4-nano.pcap", talk(4), nano=True)
    write_pcapng(folder / "5-capture.pcapng", talk(5))
    plain = write_pcap(tmp_path / "6.pcap", talk(6))
    (folder / "6-gzip.pcap.gz").write_bytes(gzip.compress(plain.read_bytes()))
    _two_interfaces(folder / "7-two-interfaces.pcapng", talk(7))
    vlan = [(t, f[:12] + b"\x81\x00\x00\x64" + f[12:]) for t, f in talk(8)]  # 802.1Q tag
    write_pcap(folder / "8-vlan.pcap", vlan)
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, b"\x02" * 8)
    write_pcap(folder / "9-sll2.pcap", strip(talk(9), sll2), linktype=276)

    result = scan(cli, db_url, wl, "--pcap", folder)
    assert result.exit_code == 0, result.stderr
    events = sorted(rows(db_url, Event), key=lambda e: e.observed_at)
    assert [(e.category, e.detector) for e in events] == [("btc-pool", "payload")] * 10
    assert [e.observed_at.timestamp() for e in events] == [T0 + 1000 * i for i in range(10)]
    assert [Path(e.source_ref.rsplit(":", 1)[0]).name for e in events] == sorted(
        p.name for p in folder.iterdir()
    )


def _two_interfaces(path: Path, packets: list[tuple[float, bytes]]) -> None:
    """A pcapng file with an Ethernet interface and a raw-IP one (nanosecond times); the
    conversation's client side goes through the first, the server side through the second."""
    le = dpkt.pcapng
    idbs = [
        le.InterfaceDescriptionBlockLE(linktype=1, snaplen=65535),
        le.InterfaceDescriptionBlockLE(
            linktype=101,
            snaplen=65535,
            opts=[le.PcapngOptionLE(code=9, data=b"\x09"), le.PcapngOptionLE(code=0)],
        ),
    ]
    with path.open("wb") as handle:
        writer = le.Writer(handle, idb=idbs)
        for at, frame in packets:
            client_side = frame[26:30] == bytes([175, 45, 176, 5])
            data = frame if client_side else frame[14:]
            stamp = round(at * 1e6) if client_side else round(at * 1e9)
            epb = le.EnhancedPacketBlockLE(
                iface_id=0 if client_side else 1,
                ts_high=stamp >> 32,
                ts_low=stamp & 0xFFFFFFFF,
                caplen=len(data),
                pkt_len=len(data),
                pkt_data=data,
            )
            writer.writepkt(epb)


def test_rescan_is_skipped_and_stores_nothing_twice(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = write_pcap(tmp_path / "mixed.pcap", [f for t in MIXED for f in frames(t)])
    assert scan(cli, db_url, wl, "--pcap", path).exit_code == 0
    again = scan(cli, db_url, wl, "--pcap", path)
    assert again.exit_code == 0 and "skipped 1" in again.stdout and "already read" in again.stderr
    assert len(rows(db_url, Event)) == 7
    inputs = rows(db_url, Input)
    assert [(i.format, i.sha256) for i in inputs] == [
        ("pcap", hashlib.sha256(path.read_bytes()).hexdigest())
    ]


def test_ordinary_json_rpc_is_not_mining(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """JSON-RPC that shares words with mining protocols (a known false positive of signature
    rules that match ``"login"`` or ``getwork`` anywhere) on pool ports: no events."""
    ordinary = [
        [
            (
                "c",
                http_post({"jsonrpc": "1.0", "id": 1, "method": "getblockchaininfo", "params": []}),
            )
        ],
        [("c", http_post({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}))],
        [
            (
                "c",
                http_post(
                    {"id": 1, "method": "notes.add", "params": ["try getwork or mining.subscribe"]}
                ),
            )
        ],
        [
            (
                "c",
                line(
                    {"id": 1, "method": "login", "params": {"username": "alice", "password": "pw"}}
                ),
            )
        ],
        [("c", line({"id": 2, "method": "login", "params": ["alice", "pw"]}))],
        [("c", line({"id": 3, "method": "submit", "params": {"form": "contact", "text": "hi"}}))],
        [("s", line({"id": 4, "method": "job", "params": {"name": "backup", "state": "done"}}))],
        [("c", line({"id": 5, "result": {"job": {"name": "backup"}}}))],
        [("c", line({"id": 6, "method": "mining_subscribe", "params": ["x"]}))],
        [("c", line({"method": "getwork"}))],
    ]
    talks = [
        Talk("175.45.176.5", "203.0.113.20", 41000 + i, 3333 if i % 2 else 8332, T0 + i, m)
        for i, m in enumerate(ordinary)
    ]
    path = write_pcap(tmp_path / "jsonrpc.pcap", [f for t in talks for f in frames(t)])
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert f"read {len(ordinary)}, watched {len(ordinary)}, classified 0, stored 0" in result.stdout
    assert rows(db_url, Event) == []


def test_reused_five_tuple_is_a_new_connection(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """After FIN, a new SYN on the same addresses and ports opens a new connection: the
    stratum session and the plain one after it are two records, not one."""
    first = Talk("175.45.176.5", "203.0.113.20", 40001, 3333, T0, BY_NAME["stratum"].messages)
    second = Talk("175.45.176.5", "203.0.113.20", 40001, 3333, T0 + 10, [("c", b"plain\n")])
    path = write_pcap(tmp_path / "reuse.pcap", frames(first) + frames(second))
    assert scan(cli, db_url, wl, "--pcap", path).exit_code == 0
    rollups = sorted((r.category, r.records, r.events) for r in rows(db_url, Rollup))
    assert rollups == [("btc-pool", 1, 1), ("other", 1, 0)]
