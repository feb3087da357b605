"""Writing packet captures for the pcap tests with dpkt: whole TCP conversations (handshake,
messages each way with correct sequence numbers and checksums, optionally cut into small
segments or sent out of order, FIN) and UDP packets, as pcap or pcapng."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

from tests.flows.pcapgen import ip_frame

Frame = tuple[float, bytes]


@dataclass
class Talk:
    """A TCP conversation: ``client`` opens it to ``server``; ``messages`` alternate
    (client, server, client, ...) unless given as (side, bytes) pairs with side "c" or "s"."""

    client: str
    server: str
    cport: int
    sport: int
    at: float
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    segment: int = 1400  # bytes per TCP segment: small values split messages
    swap_pairs: bool = False  # send each pair of segments out of order
    retransmit: bool = False  # send each segment twice
    handshake: bool = True


def tcp(
    src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b""
) -> bytes:
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, data=data)
    return ip_frame(src, dst, segment, 6)


def udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    return ip_frame(
        src, dst, dpkt.udp.UDP(sport=sport, dport=dport, data=data, ulen=8 + len(data)), 17
    )


def frames(talk: Talk) -> list[Frame]:
    A, PA, S, SA, F = (
        dpkt.tcp.TH_ACK,
        dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK,
        dpkt.tcp.TH_SYN,
        dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK,
        dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK,
    )
    c, s = talk.client, talk.server
    seq = {"c": 1000, "s": 50_000}
    out: list[Frame] = []
    t = talk.at

    def send(side: str, flags: int, data: bytes = b"") -> None:
        nonlocal t
        other = "s" if side == "c" else "c"
        src, dst = (c, s) if side == "c" else (s, c)
        sp, dp = (talk.cport, talk.sport) if side == "c" else (talk.sport, talk.cport)
        out.append((t, tcp(src, dst, sp, dp, seq[side], seq[other], flags, data)))
        t += 0.01
        seq[side] = (
            seq[side] + len(data) + (1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)
        ) & 0xFFFFFFFF

    if talk.handshake:
        send("c", S)
        send("s", SA)
        send("c", A)
    for side, message in talk.messages:
        start = len(out)
        for at in range(0, len(message), talk.segment):
            send(side, PA, message[at : at + talk.segment])
        sent = out[start:]
        if talk.swap_pairs:
            for i in range(0, len(sent) - 1, 2):
                sent[i], sent[i + 1] = sent[i + 1], sent[i]
        if talk.retransmit:
            sent = [f for frame in sent for f in (frame, frame)]
        out[start:] = [(talk.at + (start + i) * 0.01, f) for i, (_, f) in enumerate(sent)]
        t = talk.at + len(out) * 0.01
    send("c", F)
    send("s", F)
    send("c", A)
    return out


def alternate(client: Iterable[bytes], server: Iterable[bytes]) -> list[tuple[str, bytes]]:
    """Messages taking turns: client first."""
    pairs: list[tuple[str, bytes]] = []
    for a, b in zip(list(client), list(server), strict=False):
        pairs += [("c", a), ("s", b)]
    return pairs


def write_pcap(
    path: Path, packets: Iterable[Frame], *, linktype: int = 1, nano: bool = False
) -> Path:
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=linktype, nano=nano)
        for at, frame in sorted(packets, key=lambda p: p[0]):
            writer.writepkt(frame, at)
    return path


def write_pcapng(path: Path, packets: Iterable[Frame]) -> Path:
    with path.open("wb") as handle:
        writer = dpkt.pcapng.Writer(handle)
        for at, frame in sorted(packets, key=lambda p: p[0]):
            writer.writepkt(frame, at)
    return path


def bitcoin_message(magic: bytes, command: str, payload: bytes) -> bytes:
    import hashlib

    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return (
        magic
        + command.encode().ljust(12, b"\x00")
        + struct.pack("<I", len(payload))
        + checksum
        + payload
    )


def version_payload(agent: str, version: int = 70016) -> bytes:
    addr = (
        struct.pack("<Q", 0)
        + b"\x00" * 10
        + b"\xff\xff"
        + b"\x7f\x00\x00\x01"
        + struct.pack(">H", 8333)
    )
    agent_bytes = agent.encode()
    return (
        struct.pack("<iQq", version, 1, 1_500_000_000)
        + addr
        + addr
        + struct.pack("<Q", 42)
        + bytes([len(agent_bytes)])
        + agent_bytes
        + struct.pack("<i", 100)
        + b"\x01"
    )


def levin_message(command: int, body: bytes, *, request: bool = True) -> bytes:
    return (
        b"\x01\x21\x01\x01\x01\x01\x01\x01"
        + struct.pack("<Q?IiII", len(body), request, command, 0, 1 if request else 2, 1)
        + body
    )


def client_hello(server_name: str) -> bytes:
    name = server_name.encode()
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    extensions = struct.pack("!HH", 0, len(sni)) + sni
    body = (
        b"\x03\x03"
        + b"\x11" * 32
        + b"\x00"  # session id
        + struct.pack("!H", 2)
        + b"\x13\x01"
        + b"\x01\x00"  # compression: null
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def tcp_checksum_at(frame: bytes) -> int:
    """Where the TCP checksum of an Ethernet + IPv4 frame is."""
    return 14 + (frame[14] & 0x0F) * 4 + 16


def zero_checksums(frame: bytes) -> bytes:
    """The frame as a Windows host with checksum offload captures what it sends: the IPv4
    header checksum and the TCP checksum are left zero for the network card to fill in."""
    data = bytearray(frame)
    data[24:26] = b"\x00\x00"
    if data[23] == 6:
        at = tcp_checksum_at(frame)
        data[at : at + 2] = b"\x00\x00"
    return bytes(data)


def wrong_tcp_checksum(frame: bytes, value: int) -> bytes:
    """The frame with its TCP checksum replaced by ``value`` (damage on the wire)."""
    at = tcp_checksum_at(frame)
    assert frame[at : at + 2] != struct.pack("!H", value)
    return frame[:at] + struct.pack("!H", value) + frame[at + 2 :]
