"""Writing small pcaps with dpkt for the flow tests: TCP and UDP packets between chosen
addresses, each connection both ways, at chosen times."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dpkt


@dataclass(frozen=True)
class Conn:
    """One connection: ``src`` opens it to ``dst``; ``reply`` adds packets the other way."""

    src: str
    dst: str
    sport: int
    dport: int
    at: float
    proto: str = "tcp"
    reply: bool = True


def ip_frame(src: str, dst: str, payload: dpkt.Packet, proto: int) -> bytes:
    """An Ethernet frame carrying ``payload``; dpkt fills in lengths and checksums."""
    if ":" in src:
        ip6 = dpkt.ip6.IP6(
            src=socket.inet_pton(socket.AF_INET6, src),
            dst=socket.inet_pton(socket.AF_INET6, dst),
            nxt=proto,
            hlim=64,
            data=payload,
            plen=len(payload),
        )
        return bytes(
            dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x86DD, data=ip6)
        )
    ip = dpkt.ip.IP(
        src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64, data=payload
    )
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))


def _frame(conn: Conn, src: str, dst: str, sport: int, dport: int) -> bytes:
    if conn.proto == "udp":
        return ip_frame(
            src, dst, dpkt.udp.UDP(sport=sport, dport=dport, data=b"x" * 20, ulen=28), 17
        )
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, flags=dpkt.tcp.TH_ACK, data=b"x" * 20)
    return ip_frame(src, dst, segment, 6)


def packets(conn: Conn) -> Iterable[tuple[float, bytes]]:
    yield conn.at, _frame(conn, conn.src, conn.dst, conn.sport, conn.dport)
    if conn.reply:
        yield conn.at + 0.05, _frame(conn, conn.dst, conn.src, conn.dport, conn.sport)


def write_pcap(path: Path, conns: Iterable[Conn]) -> Path:
    frames = sorted((frame for conn in conns for frame in packets(conn)), key=lambda f: f[0])
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for at, frame in frames:
            writer.writepkt(frame, at)
    return path
