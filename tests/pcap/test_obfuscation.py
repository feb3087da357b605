"""VPN and Tor handshakes recognised by payload, through the real CLI: OpenVPN over UDP and TCP
(plain, tls-auth with 2.6's early negotiation, tls-crypt-v2), WireGuard, IKEv2 on 500 and on
4500, and tor's ClientHello, on their own ports and on ports that say nothing (OpenVPN on
443/TCP, WireGuard on 53/UDP...). Each is stored as ``vpn``/``tor`` with detector ``payload``
and its facts, and counts in the report's series; tshark dissects the same packets as those
protocols. Browser TLS, a QUIC Initial, DNS, JSON-RPC over HTTP and random datagrams the size of
WireGuard's handshakes stay unclassified (the layouts' own properties:
``test_obfuscation_layouts.py``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import Event, Rollup
from tests.conftest import require_binary
from tests.flows.conftest import rows
from tests.pcap import obfsgen as g
from tests.pcap.capgen import Frame, Talk, frames, write_pcap
from tests.pcap.conftest import scan

T0 = 1558000000.0  # 2019-05-16 09:46:40 UTC
CLIENT, SERVER = bytes.fromhex("5f1c0a9e33d2b871"), bytes.fromhex("c04be7a1902d6e35")
ISPI, RSPI = bytes.fromhex("8d3c4f1e6a7b2c90"), bytes.fromhex("e1f2a3b4c5d6e7f8")
TOR_SNI = g.tor_name("q7fbh2wkzd3x")


@dataclass
class Conv:
    """One conversation of the capture: who talks, on what, and what must be stored."""

    name: str
    local: str
    remote: str
    rport: int
    build: Callable[[float], list[Frame]]
    category: str
    confidence: float
    facts: dict[str, Any]
    dissector: str  # what tshark calls the protocol (in frame.protocols)
    decode_as: list[str] = field(default_factory=list)


def udp_conv(local: str, remote: str, lport: int, rport: int, msgs: list[tuple[str, bytes]]) -> Any:
    return lambda at: g.exchange(local, remote, lport, rport, at, msgs)


def tcp_conv(
    local: str, remote: str, lport: int, rport: int, msgs: list[tuple[str, bytes]], **kw: Any
) -> Any:
    return lambda at: frames(Talk(local, remote, lport, rport, at, msgs, **kw))


def conversations() -> list[Conv]:
    plain = g.openvpn_pair(CLIENT, SERVER)
    auth = g.openvpn_pair(CLIENT, SERVER, "tls-auth", early=True)
    v3 = g.openvpn(10, CLIENT, wrap="tls-crypt-v2")
    ovpn = {"protocol": "openvpn", "session_id": CLIENT.hex(), "key_id": 0}
    client_v2 = {**ovpn, "message": "P_CONTROL_HARD_RESET_CLIENT_V2", "opcode": 7}
    wg_init = {"protocol": "wireguard", "message": "handshake_initiation", "type": 1}
    sa_init = (g.ike_sa_init(ISPI), g.ike_sa_init(ISPI, RSPI))
    auth_msgs = (
        g.ike_auth(ISPI, RSPI, response=False),
        g.ike_auth(ISPI, RSPI, response=True),
    )
    ike = {"protocol": "ikev2", "initiator_spi": ISPI.hex(), "responder_spi": RSPI.hex()}
    a, b = "175.45.176.", "203.0.113."
    return [
        Conv(
            "openvpn-udp-1194",
            a + "10",
            b + "30",
            1194,
            udp_conv(a + "10", b + "30", 40001, 1194, [("c", plain[0]), ("s", plain[1])]),
            "vpn",
            0.95,
            {**client_v2, "transport": "udp", "wrap": "none", "paired": True},
            "openvpn",
        ),
        Conv(  # OpenVPN on 443/TCP, tls-auth, 3 bytes per segment, pairs swapped
            "openvpn-tcp-443",
            a + "11",
            b + "31",
            443,
            tcp_conv(
                a + "11",
                b + "31",
                41011,
                443,
                [("c", g.framed(auth[0])), ("s", g.framed(auth[1]))],
                segment=3,
                swap_pairs=True,
            ),
            "vpn",
            0.95,
            {**client_v2, "transport": "tcp", "wrap": "tls-auth", "hmac_bytes": 20},
            "openvpn",
            ["tcp.port==41011,openvpn"],
        ),
        Conv(  # tls-crypt-v2's client reset, its server not captured
            "openvpn-v3-8443",
            a + "12",
            b + "32",
            8443,
            udp_conv(a + "12", b + "32", 40003, 8443, [("c", v3)]),
            "vpn",
            0.9,
            {**ovpn, "message": "P_CONTROL_HARD_RESET_CLIENT_V3", "wrap": "tls-crypt-v2"},
            "openvpn",
            ["udp.port==8443,openvpn"],
        ),
        Conv(
            "wireguard-51820",
            a + "13",
            b + "33",
            51820,
            udp_conv(
                a + "13",
                b + "33",
                40004,
                51820,
                [("c", g.wg_initiation(7)), ("s", g.wg_response(8, 7)), ("c", g.wg_data(8, 0))],
            ),
            "vpn",
            0.95,
            {**wg_init, "sender_index": "07000000", "receiver_index": "07000000"},
            "wg",
        ),
        Conv(  # WireGuard on 53/UDP, answered with a cookie (the server is under load)
            "wireguard-53",
            a + "14",
            b + "34",
            53,
            udp_conv(
                a + "14", b + "34", 40005, 53, [("c", g.wg_initiation(9)), ("s", g.wg_cookie(9))]
            ),
            "vpn",
            0.95,
            {**wg_init, "sender_index": "09000000", "paired": True},
            "wg",
            ["udp.port==53,wg"],
        ),
        Conv(  # a watched WireGuard server on 443/UDP, one initiation unanswered
            "wireguard-server-443",
            a + "15",
            "198.51.100.40",
            40006,
            udp_conv("198.51.100.40", a + "15", 40006, 443, [("c", g.wg_initiation(11))]),
            "vpn",
            0.9,
            {**wg_init, "sender_index": "0b000000"},
            "wg",
            ["udp.port==443,wg"],
        ),
        Conv(
            "ikev2-500",
            a + "16",
            b + "36",
            500,
            udp_conv(a + "16", b + "36", 500, 500, [("c", sa_init[0]), ("s", sa_init[1])]),
            "vpn",
            0.95,
            {**ike, "message": "IKE_SA_INIT", "exchange_type": 34, "response": False},
            "isakmp",
        ),
        Conv(
            "ikev2-4500",
            a + "17",
            b + "37",
            4500,
            udp_conv(a + "17", b + "37", 4500, 4500, [("c", auth_msgs[0]), ("s", auth_msgs[1])]),
            "vpn",
            0.95,
            {**ike, "message": "IKE_AUTH", "nat_traversal": True, "paired": True},
            "isakmp",
        ),
        Conv(  # IKEv1 Main Mode on 500, its first message unanswered
            "ikev1-500",
            a + "20",
            b + "40",
            500,
            udp_conv(a + "20", b + "40", 500, 500, [("c", g.ikev1_main_mode(ISPI))]),
            "vpn",
            0.9,
            {"protocol": "ikev1", "message": "Identity Protection", "exchange_type": 2},
            "isakmp",
        ),
        Conv(
            "tor-9001",
            a + "18",
            b + "38",
            9001,
            tcp_conv(a + "18", b + "38", 41018, 9001, [("c", g.openssl_hello(TOR_SNI))]),
            "tor",
            0.8,
            {"protocol": "tor-tls", "sni": TOR_SNI, "message": "client_hello"},
            "tls",
            ["tcp.port==9001,tls"],
        ),
        Conv(
            "tor-443",
            a + "19",
            b + "39",
            443,
            tcp_conv(a + "19", b + "39", 41019, 443, [("c", g.openssl_hello("www.mzxw6ytb.net"))]),
            "tor",
            0.8,
            {"protocol": "tor-tls", "sni": "www.mzxw6ytb.net"},
            "tls",
        ),
    ]


def capture(path: Path, convs: list[Conv]) -> Path:
    return write_pcap(path, [f for i, c in enumerate(convs) for f in c.build(T0 + 10 * i)])


def test_vpn_and_tor_stored_with_their_facts(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    convs = conversations()
    path = capture(tmp_path / "obfuscation.pcap", convs)
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    n = len(convs)
    assert f"read {n}, watched {n}, classified {n}, stored {n}" in result.stdout, result.stdout

    events = {e.local_ip: e for e in rows(db_url, Event)}
    assert len(events) == n
    for conv in convs:
        event = events[conv.local]
        assert (event.remote_ip, event.remote_port) == (conv.remote, conv.rport), conv.name
        assert (event.category, event.detector) == (conv.category, "payload"), conv.name
        assert event.confidence == pytest.approx(conv.confidence), conv.name
        detail = event.detail
        assert {k: detail.get(k) for k in conv.facts} == conv.facts, (conv.name, detail)
        if conv.confidence < 0.95:
            assert "paired" not in detail, conv.name
    # The server's answer named the client's session: both sides are kept.
    assert events["175.45.176.10"].detail["acked_session_id"] == CLIENT.hex()
    assert events["175.45.176.10"].detail["server_session_id"] == SERVER.hex()
    assert events["175.45.176.15"].direction == "inbound"
    assert sum(r.events for r in rows(db_url, Rollup)) == n

    report = cli("--db", db_url, "report", "--format", "json")
    assert report.exit_code == 0, report.stderr
    series = json.loads(report.stdout)["series"]
    counts = {key: sum(row[key] for row in series) for key in ("vpn", "tor")}
    assert counts == {"vpn": n - 2, "tor": 2}


def counterexamples(at: float) -> list[Frame]:
    """Traffic that must never be taken for a VPN or Tor, watched side 175.45.176.x."""
    a, r = "175.45.176.", "203.0.113.50"
    rpc = g.json_rpc_http("eth_blockNumber")
    query = g.dns_query(0x3A7C, "www.example.com")
    talks = [
        Talk(a + "20", r, 42000, 443, at, [("c", g.browser_hello("www.example.com"))]),
        # Firefox-like (no GREASE) to a Tor-like name: its ALPN gives it away.
        Talk(a + "21", r, 42001, 443, at + 1, [("c", g.browser_hello(TOR_SNI, grease=False))]),
        # OpenSSL without ALPN (a script, s_client) to a name people wrote.
        Talk(a + "22", r, 42002, 443, at + 2, [("c", g.openssl_hello("www.wikipedia.com"))]),
        Talk(a + "23", r, 42003, 8545, at + 3, [("c", rpc[0]), ("s", rpc[1])]),
    ]
    datagrams = [
        (a + "24", 443, [("c", g.quic_initial())]),
        (a + "25", 53, [("c", query), ("s", g.dns_answer(query, bytes([192, 0, 2, 1])))]),
        # An iterative query (no flags) with id 0x0100, padded to a WireGuard initiation's size.
        (a + "26", 53, [("c", g.dns_query(0x0100, "www.example.com", flags=0, pad_to=148))]),
        (
            a + "27",
            40500,
            [("c", b"\x04" + g.noise(147)), ("s", b"\x02\x00\x01\x00" + g.noise(88))],
        ),
        (a + "28", 500, [("c", g.noise(148))]),
    ]
    out = [f for t in talks for f in frames(t)]
    for i, (local, port, msgs) in enumerate(datagrams):
        out += g.exchange(local, r, 43000 + i, port, at + 10 + i, msgs)
    return out


def test_https_quic_dns_json_rpc_stay_unclassified(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = write_pcap(tmp_path / "ordinary.pcap", counterexamples(T0))
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert "read 9, watched 9, classified 0, stored 0" in result.stdout, result.stdout
    assert rows(db_url, Event) == []
    assert {r.category for r in rows(db_url, Rollup)} == {"other"}


def test_tshark_dissects_the_handshakes_as_those_protocols(tmp_path: Path) -> None:
    tshark = require_binary("tshark")
    convs = conversations()
    path = capture(tmp_path / "obfuscation.pcap", convs)
    decode = [arg for c in convs for spec in c.decode_as for arg in ("-d", spec)]
    decode += ["-o", "tcp.reassemble_out_of_order:TRUE"]  # OpenVPN's segments come swapped
    fields = ["-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "frame.protocols"]
    out = subprocess.run(
        [tshark, "-r", str(path), *decode, *fields, "-e", "_ws.malformed"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen: dict[str, set[str]] = {}
    for line in out.splitlines():
        src, dst, protocols, malformed = [*line.split("\t"), ""][:4]
        assert not malformed, line
        for address in (src, dst):
            seen.setdefault(address, set()).update(protocols.split(":"))
    for conv in convs:
        assert conv.dissector in seen[conv.local], (conv.name, seen[conv.local])
    sni = subprocess.run(
        [
            tshark,
            "-r",
            str(path),
            *decode,
            "-T",
            "fields",
            "-e",
            "tls.handshake.extensions_server_name",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert set(sni) == {TOR_SNI, "www.mzxw6ytb.net"}
