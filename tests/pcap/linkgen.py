"""Link-layer framing for the pcap tests: an Ethernet frame from ``capgen`` re-framed as each
link type carries it, following the layouts of https://www.tcpdump.org/linktypes.html (and
the radiotap and PPI specifications), and pcapng files with several interfaces.

Each framer takes the IP packet and its Ethernet type (0x0800 or 0x86DD) and returns the frame.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from pathlib import Path

import dpkt

Framer = Callable[[bytes, int], bytes]
MAC_A, MAC_B, MAC_C = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b", b"\x02" * 6
SNAP = b"\xaa\xaa\x03\x00\x00\x00"


def split(frame: bytes) -> tuple[bytes, int]:
    """An Ethernet frame's IP packet and Ethernet type."""
    return frame[14:], struct.unpack("!H", frame[12:14])[0]


def ethernet(*tags: tuple[int, int]) -> Framer:
    """Ethernet II with VLAN tags (TPID, VLAN id), outermost first."""

    def frame(ip: bytes, ethertype: int) -> bytes:
        stack = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in tags)
        return MAC_A + MAC_B + stack + struct.pack("!H", ethertype) + ip

    return frame


def mpls(labels: Iterable[int], *, multicast: bool = False) -> Framer:
    """Ethernet with an MPLS label stack (RFC 3032: label 20 bits, TC 3, S 1, TTL 8)."""
    labels = list(labels)

    def frame(ip: bytes, ethertype: int) -> bytes:
        stack = b"".join(
            struct.pack("!I", label << 12 | (i == len(labels) - 1) << 8 | 64)
            for i, label in enumerate(labels)
        )
        return MAC_A + MAC_B + struct.pack("!H", 0x8848 if multicast else 0x8847) + stack + ip

    return frame


def llc_snap(ip: bytes, ethertype: int) -> bytes:
    """IEEE 802.3 with a length field, then LLC/SNAP naming the Ethernet type (RFC 1042)."""
    body = SNAP + struct.pack("!H", ethertype) + ip
    return MAC_A + MAC_B + struct.pack("!H", len(body)) + body


def null(order: str) -> Framer:
    """BSD loopback: the address family as a 4-byte integer (``<`` or ``>``)."""

    def frame(ip: bytes, ethertype: int) -> bytes:
        return struct.pack(order + "I", 2 if ethertype == 0x0800 else 30) + ip

    return frame


def raw(ip: bytes, ethertype: int) -> bytes:
    return ip


def sll(ip: bytes, ethertype: int) -> bytes:
    """Linux cooked capture v1: packet type 4 (sent by us), ARPHRD_ETHER, address, protocol."""
    return struct.pack("!HHH8sH", 4, 1, 6, MAC_A, ethertype) + ip


def sll2(ip: bytes, ethertype: int) -> bytes:
    """Linux cooked capture v2: protocol, reserved, interface index, ARPHRD, type, address."""
    return struct.pack("!HHIHBB8s", ethertype, 0, 3, 1, 4, 6, MAC_A) + ip


def ppp(*, framing: bool = True, compressed: bool = False) -> Framer:
    """PPP (RFC 1661), with the RFC 1662 address and control bytes or without, the protocol
    field in two bytes or compressed to one."""

    def frame(ip: bytes, ethertype: int) -> bytes:
        protocol = 0x21 if ethertype == 0x0800 else 0x57
        field = bytes([protocol]) if compressed else struct.pack("!H", protocol)
        return (b"\xff\x03" if framing else b"") + field + ip

    return frame


def cisco_hdlc(ip: bytes, ethertype: int) -> bytes:
    """Cisco HDLC: address 0x0F (unicast), control 0x00, the Ethernet type."""
    return b"\x0f\x00" + struct.pack("!H", ethertype) + ip


def wifi_header(*, qos: bool = False, four: bool = False, htc: bool = False) -> bytes:
    """The MAC header of an 802.11 data frame from the access point (or between two, with four
    addresses), optionally QoS data with HT control."""
    subtype = 8 if qos else 0
    flags = (0x03 if four else 0x02) | (0x80 if htc else 0)
    header = bytes([subtype << 4 | 2 << 2, flags]) + struct.pack("<H", 44)
    header += MAC_A + MAC_B + MAC_C + struct.pack("<H", 0x1230)
    if four:
        header += MAC_B
    if qos:
        header += struct.pack("<H", 5)  # TID 5, no A-MSDU
    if htc:
        header += b"\x00\x00\x00\x00"
    return header


def wifi(*, qos: bool = False, four: bool = False, htc: bool = False) -> Framer:
    """802.11 data (link type 105): the MAC header, then LLC/SNAP and the packet."""

    def frame(ip: bytes, ethertype: int) -> bytes:
        return wifi_header(qos=qos, four=four, htc=htc) + SNAP + struct.pack("!H", ethertype) + ip

    return frame


#: Radiotap (link type 127): version 0, length 15 (little-endian), present: flags, rate,
#: channel (2412 MHz, 2 GHz OFDM) and antenna signal; the 802.11 frame follows.
RADIOTAP = struct.pack("<BBHI", 0, 0, 15, 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5) + struct.pack(
    "<BBHHb", 0, 12, 2412, 0x0C0, -42
)


def ppi_header(dlt: int) -> bytes:
    """PPI (link type 192): version 0, flags 0, length (little-endian), the inner link type,
    and one 802.11-common field (type 2, 20 bytes); the inner frame follows."""
    common = struct.pack("<QHHHHBBbb", 0, 0, 12, 2412, 0x0C0, 0, 0, -42, -95)
    field = struct.pack("<HH", 2, len(common)) + common
    return struct.pack("<BBHI", 0, 0, 8 + len(field), dlt) + field


def prefixed(prefix: bytes, inner: Framer) -> Framer:
    """``inner``'s frames behind a fixed header (radiotap, PPI)."""

    def frame(ip: bytes, ethertype: int) -> bytes:
        return prefix + inner(ip, ethertype)

    return frame


def beacon() -> bytes:
    """An 802.11 beacon (management): no IP inside."""
    header = b"\x80\x00\x00\x00" + b"\xff" * 6 + MAC_B + MAC_B + b"\x00\x00"
    return header + struct.pack("<QHH", 0, 100, 0x0401) + b"\x00\x04test"


def protected(ip: bytes) -> bytes:
    """An 802.11 QoS data frame with the protected bit: its body is ciphertext (here, an IP
    packet behind a CCMP header, which must not be read as one)."""
    header = bytearray(wifi_header(qos=True))
    header[1] |= 0x40
    return bytes(header) + b"\x01\x00\x00\x20\x00\x00\x00\x00" + SNAP + b"\x08\x00" + ip


def write_interfaces(
    path: Path, linktypes: list[int], packets: Iterable[tuple[float, int, bytes]]
) -> Path:
    """A pcapng file with one interface per link type; each packet names its interface."""
    ng = dpkt.pcapng
    idbs = [ng.InterfaceDescriptionBlockLE(linktype=lt, snaplen=65535) for lt in linktypes]
    with path.open("wb") as handle:
        writer = ng.Writer(handle, idb=idbs)
        for at, iface, data in sorted(packets, key=lambda p: p[0]):
            stamp = round(at * 1e6)
            writer.writepkt(
                ng.EnhancedPacketBlockLE(
                    iface_id=iface,
                    ts_high=stamp >> 32,
                    ts_low=stamp & 0xFFFFFFFF,
                    caplen=len(data),
                    pkt_len=len(data),
                    pkt_data=data,
                )
            )
    return path
