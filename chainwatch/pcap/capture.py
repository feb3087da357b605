"""Framing packet captures (pcap and pcapng) into packets, with every length checked.

dpkt's readers trust the lengths a file states: a record claiming 4 GiB makes them read the
rest of the file (or of a gzip stream) into memory, a pcapng block shorter than its own header
reads backwards, and pcapng packets are all decoded with the first interface's link type.
Captures are hostile input here, so the framing is ours: each length is checked against a
limit before anything is read, each pcapng packet carries its own interface's link type and
time resolution, and a capture that ends mid-packet ends with a problem, not an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

#: Largest packet record accepted (libpcap's own maximum snapshot length).
MAX_PACKET = 262_144
#: Largest pcapng block accepted (a packet block, or options such as a long comment).
MAX_BLOCK = 1 << 20
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
#: pcap magic as found on disk -> (byte order, seconds per fraction unit).
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}

#: Called with (packet number, reason) for each packet or block that cannot be used.
Skip = Callable[[int, str], None]


class Frame(NamedTuple):  # a tuple: millions are made, and a dataclass costs twice as much
    """One captured packet: its 1-based number in the capture, time (UTC epoch seconds),
    link type (a LINKTYPE_ value), the bytes captured and the length it had on the wire."""

    number: int
    ts: float
    linktype: int
    data: bytes
    wirelen: int


class NotACapture(ValueError):
    """The input does not start like a pcap or pcapng file."""


def is_capture(head: bytes) -> bool:
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


def frames(handle: BinaryIO, skip: Skip) -> Iterator[Frame]:
    """The packets of a pcap or pcapng stream, in file order."""
    magic = handle.read(4)
    if magic in PCAP_MAGICS:
        return _pcap(handle, magic, skip)
    if magic == PCAPNG_MAGIC:
        return _pcapng(handle, skip)
    raise NotACapture("is not a packet capture")


def _pcap(handle: BinaryIO, magic: bytes, skip: Skip) -> Iterator[Frame]:
    order, unit = PCAP_MAGICS[magic]
    header = handle.read(20)
    if len(header) < 20:
        skip(0, "the capture ends inside its file header")
        return
    # The top bits of the link type field may carry FCS information (pcap-linktype(7)).
    linktype = struct.unpack(order + "I", header[16:20])[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    number = 0
    while head := handle.read(16):
        number += 1
        if len(head) < 16:
            skip(number, "the capture ends inside a packet header (truncated)")
            return
        seconds, fraction, caplen, wirelen = record.unpack(head)
        if caplen > MAX_PACKET:
            skip(
                number,
                f"packet length {caplen:,} is above {MAX_PACKET:,}; the rest of the capture "
                "cannot be framed",
            )
            return
        data = handle.read(caplen)
        if len(data) < caplen:
            skip(number, "the capture ends inside a packet (truncated)")
            return
        yield Frame(number, seconds + fraction * unit, linktype, data, max(wirelen, caplen))


@dataclass
class _Interface:
    linktype: int
    unit: float
    offset: float


def _pcapng(handle: BinaryIO, skip: Skip) -> Iterator[Frame]:
    order = "<"
    interfaces: list[_Interface] = []
    number = 0
    last_ts = 0.0
    consumed = PCAPNG_MAGIC  # frames() read the first block's type
    while True:
        head = consumed + handle.read(8 - len(consumed))
        consumed = b""
        if not head:
            return
        if len(head) < 8:
            skip(number + 1, "the capture ends inside a block header (truncated)")
            return
        if head[:4] == PCAPNG_MAGIC:
            # A section header: its byte-order magic says how to read the section.
            bom = handle.read(4)
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                skip(number + 1, "a pcapng section header has no valid byte-order magic")
                return
            length = struct.unpack(order + "I", head[4:8])[0]
            body_start = 4
            interfaces = []
        else:
            length = struct.unpack(order + "I", head[4:8])[0]
            body_start = 0
        block_type = struct.unpack(order + "I", head[:4])[0]
        if length < 12 or length % 4 or length > MAX_BLOCK:
            skip(
                number + 1,
                f"pcapng block length {length:,} is not a multiple of 4 between 12 and "
                f"{MAX_BLOCK:,}; the rest of the capture cannot be framed",
            )
            return
        body = handle.read(length - 8 - body_start)
        if len(body) < length - 8 - body_start:
            skip(number + 1, "the capture ends inside a block (truncated)")
            return
        body = body[:-4]  # the trailing copy of the block length
        if block_type == 1:
            interfaces.append(_interface(body, order))
        elif block_type in (6, 3, 2):
            number += 1
            frame = _packet_block(block_type, body, order, interfaces, number, last_ts, skip)
            if frame is not None:
                last_ts = frame.ts
                yield frame


def _interface(body: bytes, order: str) -> _Interface:
    linktype = struct.unpack(order + "H", body[:2])[0] if len(body) >= 2 else -1
    unit, offset = 1e-6, 0.0
    for code, value in _options(body[8:], order):
        if code == 9 and value:  # if_tsresol: 10^-n, or 2^-n with the top bit set
            n = value[0]
            unit = 2.0 ** -(n & 0x7F) if n & 0x80 else 10.0**-n
        elif code == 14 and len(value) == 8:  # if_tsoffset, seconds
            offset = float(struct.unpack(order + "q", value)[0])
    return _Interface(linktype, unit, offset)


def _options(data: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    at = 0
    while at + 4 <= len(data):
        code, size = struct.unpack(order + "HH", data[at : at + 4])
        if code == 0:
            return
        yield code, data[at + 4 : at + 4 + size]
        at += 4 + size + (-size % 4)


def _packet_block(
    block_type: int,
    body: bytes,
    order: str,
    interfaces: list[_Interface],
    number: int,
    last_ts: float,
    skip: Skip,
) -> Frame | None:
    if block_type == 6:  # enhanced packet block
        if len(body) < 20:
            skip(number, "a pcapng packet block is too short")
            return None
        iface, high, low, caplen, wirelen = struct.unpack(order + "IIIII", body[:20])
        data = body[20 : 20 + caplen]
    elif block_type == 2:  # obsolete packet block
        if len(body) < 20:
            skip(number, "a pcapng packet block is too short")
            return None
        iface, _, high, low, caplen, wirelen = struct.unpack(order + "HHIIII", body[:20])
        data = body[20 : 20 + caplen]
    else:  # simple packet block: interface 0, no time of its own
        if len(body) < 4:
            skip(number, "a pcapng packet block is too short")
            return None
        iface, high, low = 0, -1, -1
        wirelen = struct.unpack(order + "I", body[:4])[0]
        data = body[4 : 4 + wirelen]
        caplen = len(data)
    if iface >= len(interfaces):
        skip(number, f"a packet names interface {iface}, which the capture never described")
        return None
    if len(data) < caplen:
        skip(number, "a pcapng packet block is shorter than the packet it claims")
        return None
    interface = interfaces[iface]
    ts = last_ts if high < 0 else interface.offset + ((high << 32) | low) * interface.unit
    return Frame(number, ts, interface.linktype, data, max(wirelen, len(data)))
