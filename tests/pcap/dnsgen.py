"""Writing DNS messages (RFC 1035 4.1) by hand for the capture tests, byte by byte, so that
compression pointers, CNAME chains and damaged messages are exactly what a test says."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

A, CNAME, AAAA = 1, 5, 28
#: Compression pointer to the question's name (it always starts at offset 12).
TO_QUESTION = b"\xc0\x0c"


def name(text: str) -> bytes:
    """A name as uncompressed labels."""
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


@dataclass(frozen=True)
class Record:
    """An answer record: ``owner`` and ``data`` are wire bytes (a name, or ``TO_QUESTION``)."""

    owner: bytes
    rtype: int
    data: bytes
    rclass: int = 1

    def wire(self) -> bytes:
        return self.owner + struct.pack("!HHIH", self.rtype, self.rclass, 300, len(self.data))


def address(owner: bytes, text: str) -> Record:
    packed = ipaddress.ip_address(text).packed
    return Record(owner, A if len(packed) == 4 else AAAA, packed)


def response(
    qname: str,
    records: list[Record],
    *,
    qtype: int = A,
    rcode: int = 0,
    truncated: bool = False,
    ident: int = 0x1234,
) -> bytes:
    """A standard query response to ``qname`` with ``records`` in the answer section."""
    flags = 0x8180 | rcode | (0x0200 if truncated else 0)
    header = struct.pack("!HHHHHH", ident, flags, 1, len(records), 0, 0)
    body = name(qname) + struct.pack("!HH", qtype, 1)
    for record in records:
        body += record.wire() + record.data
    return header + body


def query(qname: str, qtype: int = A, ident: int = 0x1234) -> bytes:
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
        + name(qname)
        + struct.pack("!HH", qtype, 1)
    )


def cname_chain(qname: str, target: str, addresses: list[str]) -> bytes:
    """``qname`` CNAME ``target`` (written in full), ``target`` A/AAAA ``addresses`` (owner
    compressed to the CNAME's data, offset 12 + question + record header)."""
    question_end = 12 + len(name(qname)) + 4
    cname_data_at = question_end + 2 + 10
    to_target = struct.pack("!H", 0xC000 | cname_data_at)
    records = [Record(TO_QUESTION, CNAME, name(target))]
    records += [address(to_target, a) for a in addresses]
    return response(qname, records)


def tcp_framed(message: bytes) -> bytes:
    """The message as DNS over TCP sends it: behind its two-byte length."""
    return struct.pack("!H", len(message)) + message
