"""Decoding the headers of captured packets: IPv4/IPv6 and TCP/UDP, after the link layer
(``links``).

Only the fields chainwatch needs are read, straight from the bytes with ``struct``: dpkt's
object decoding costs about six times as much per packet, and most packets of a capture are
dropped after their addresses are looked at. Every offset is checked against what was
captured; a packet that cannot be decoded yields a reason, never an exception. Checksums are
checked only for packets of watched addresses (``checksum_fault``), where they matter.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from dpkt import in_cksum_add

from chainwatch.pcap.links import network

TCP, UDP = 6, 17
#: TCP flags.
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
_IPV6_EXTENSIONS = {0, 43, 60}
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIBB")


class Packet(NamedTuple):
    """The decoded headers of one IP packet.

    ``sport``/``dport`` are -1 for protocols without ports and for non-first fragments;
    ``payload`` is the captured transport payload (may be cut short by the snapshot length);
    ``length`` is the IP packet's length on the wire.
    """

    version: int
    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    flags: int
    seq: int
    payload: bytes
    length: int
    ip_at: int
    l4_at: int
    end: int


def decode(linktype: int, data: bytes) -> Packet | str | None:
    """The packet's headers; a reason string when it is malformed; None when it is not IP
    (ARP, spanning tree, 802.11 management...), which is normal traffic and not a problem."""
    found = network(linktype, data)
    if not isinstance(found, tuple):
        return found
    version, at = found
    if version == 4:
        return _ipv4(data, at)
    if version == 6:
        return _ipv6(data, at)
    return _ip(data, at)


def _ip(data: bytes, at: int) -> Packet | str | None:
    if len(data) <= at:
        return "the IP header is truncated"
    version = data[at] >> 4
    if version == 4:
        return _ipv4(data, at)
    if version == 6:
        return _ipv6(data, at)
    return f"IP version {version} is not 4 or 6"


def _ipv4(data: bytes, at: int) -> Packet | str:
    if len(data) < at + 20:
        return "the IPv4 header is truncated"
    first = data[at]
    header = (first & 0x0F) * 4
    if first >> 4 != 4 or header < 20:
        return "the IPv4 header is malformed (version or header length)"
    length = _U16.unpack_from(data, at + 2)[0]
    if length < header or len(data) < at + header:
        return "the IPv4 total length is smaller than its header"
    fragment = _U16.unpack_from(data, at + 6)[0] & 0x1FFF
    proto = data[at + 9]
    src, dst = data[at + 12 : at + 16], data[at + 16 : at + 20]
    end = min(len(data), at + length)
    if fragment:
        return Packet(4, src, dst, proto, -1, -1, 0, 0, b"", length, at, end, end)
    return _transport(data, 4, src, dst, proto, length, at, at + header, end)


def _ipv6(data: bytes, at: int) -> Packet | str:
    if len(data) < at + 40:
        return "the IPv6 header is truncated"
    if data[at] >> 4 != 6:
        return "the IPv6 header is malformed (version)"
    length = 40 + _U16.unpack_from(data, at + 4)[0]
    proto = data[at + 6]
    src, dst = data[at + 8 : at + 24], data[at + 24 : at + 40]
    end = min(len(data), at + length)
    l4 = at + 40
    for _ in range(8):  # a bounded walk: a chain of extension headers cannot loop forever
        if proto in _IPV6_EXTENSIONS or proto == 44 or proto == 51:
            if end < l4 + 8:
                return "an IPv6 extension header is truncated"
            if proto == 44 and _U16.unpack_from(data, l4 + 2)[0] & 0xFFF8:
                return Packet(6, src, dst, data[l4], -1, -1, 0, 0, b"", length, at, end, end)
            size = (
                8
                if proto == 44
                else (data[l4 + 1] + 2) * 4
                if proto == 51
                else (data[l4 + 1] + 1) * 8
            )
            proto = data[l4]
            l4 += size
        else:
            break
    return _transport(data, 6, src, dst, proto, length, at, l4, end)


def _transport(
    data: bytes,
    version: int,
    src: bytes,
    dst: bytes,
    proto: int,
    length: int,
    ip_at: int,
    l4: int,
    end: int,
) -> Packet | str:
    sport = dport = -1
    flags = seq = 0
    start = end
    if proto == TCP:
        if end < l4 + 20:
            return "the TCP header is truncated"
        sport, dport, seq, _, offset, flags = _TCP.unpack_from(data, l4)
        start = l4 + (offset >> 4) * 4
        if (offset >> 4) < 5 or start > end:
            return "the TCP header length is malformed"
    elif proto == UDP:
        if end < l4 + 8:
            return "the UDP header is truncated"
        sport, dport = _PORTS.unpack_from(data, l4)
        start = l4 + 8
    payload = data[start:end]
    return Packet(
        version, src, dst, proto, sport, dport, flags, seq, payload, length, ip_at, l4, end
    )


def _fold(total: int) -> int:
    total = (total >> 16) + (total & 0xFFFF)
    return (total + (total >> 16)) & 0xFFFF


class Fault(NamedTuple):
    """A wrong checksum: why, and whether the field held zero (what a capture taken on a sender
    that leaves checksums to its network card often shows)."""

    reason: str
    zero: bool


def checksum_fault(data: bytes, packet: Packet) -> Fault | None:
    """What is wrong with the packet's IPv4 header or TCP/UDP checksum, or None.

    A transport checksum that equals the sum of the pseudo-header alone is accepted: that is
    what a capture taken on a Linux sender shows when the network card computes checksums
    (checksum offload), and the packet is genuine. Other signs of offload (zero, or wrong on
    every packet of one host) are judged per host by ``checksums``. Packets cut short by the
    snapshot length cannot be checked and are accepted."""
    if packet.version == 4:
        header = data[packet.ip_at : packet.ip_at + (data[packet.ip_at] & 0x0F) * 4]
        if _fold(in_cksum_add(0, header)) != 0xFFFF:
            return Fault("bad IPv4 header checksum", header[10:12] == b"\x00\x00")
    if packet.proto not in (TCP, UDP) or packet.sport < 0:
        return None
    if packet.ip_at + packet.length > len(data):
        return None  # truncated by the snapshot length
    segment = data[packet.l4_at : packet.end]
    stored = _U16.unpack_from(segment, 16 if packet.proto == TCP else 6)[0]
    if packet.proto == UDP and stored == 0 and packet.version == 4:
        return None  # UDP over IPv4 without a checksum
    pseudo = (
        packet.src
        + packet.dst
        + (
            struct.pack("!HH", packet.proto, len(segment))
            if packet.version == 4
            else struct.pack("!IxxxB", len(segment), packet.proto)
        )
    )
    partial = in_cksum_add(0, pseudo)
    if _fold(in_cksum_add(partial, segment)) == 0xFFFF:
        return None
    offloaded = _fold(partial)
    if ((offloaded & 0xFF) << 8 | offloaded >> 8) == stored:
        return None
    return Fault(f"bad {'TCP' if packet.proto == TCP else 'UDP'} checksum", stored == 0)
