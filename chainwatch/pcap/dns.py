"""DNS responses in captures, read into passive DNS answers (``chainwatch.passive_dns.Answer``).

A response (RFC 1035 4.1) from port 53, over UDP or TCP (each message behind its two-byte
length, RFC 1035 4.2.2, reassembled in order per connection from the server's SYN; a gap or
a connection the capture joined midway gives nothing), gives one answer per A/AAAA
record reached from the asked name through the answer section's CNAME chain, for every name
of the chain (RFC 1034 3.6.2): a connection to the address is then attributed to the name the
client asked for and to the names it was an alias of. Records not reached from the question
(stray or injected data) are not answers, nor are the authority and additional sections.

Only successful, untruncated (TC clear) standard responses count. Names follow compression
pointers (RFC 1035 4.1.4) that point strictly backwards, a bounded number of times, so a
hostile message cannot loop. A message cut short or malformed anywhere yields no answers at
all, never an exception: a half-read response could pair a name with the wrong record.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
from collections.abc import Callable

from chainwatch.passive_dns import Answer

PORT = 53
A, CNAME, AAAA = 1, 5, 28
IN = 1
#: Compression pointers followed per name, and CNAMEs followed per question.
MAX_JUMPS = 32
MAX_CHAIN = 16
#: TCP streams to port-53 servers followed at once, and bytes held per stream.
MAX_STREAMS = 4096
MAX_HELD = 2 + 65535
_HEADER = struct.Struct("!HHHHHH")
_RECORD = struct.Struct("!HHIH")
#: inet_ntop writes the canonical text ``ipaddress`` does (RFC 5952 for IPv6), faster.
_FAMILY = {4: socket.AF_INET, 16: socket.AF_INET6}


class Malformed(ValueError):
    """The message is not a well-formed DNS message."""


def _name(message: bytes, at: int, known: dict[int, str]) -> tuple[str, int]:
    """The name at ``at`` (lower case, no trailing dot) and the offset after it. ``known``
    holds the names already read in this message by where they start: a compression pointer
    to one (the usual case: to the question) is not read again."""
    start = at
    labels: list[str] = []
    end = -1
    jumps = 0
    length = 0
    while True:
        size = message[at]
        if size >= 0xC0:
            target = ((size & 0x3F) << 8) | message[at + 1]
            if end < 0:
                end = at + 2
            jumps += 1
            if target >= at or jumps > MAX_JUMPS:
                raise Malformed("compression pointer does not point backwards")
            suffix = known.get(target)
            if suffix is not None:
                labels.append(suffix)
                length += len(suffix) + 1
                break
            at = target
            continue
        if size & 0xC0:
            raise Malformed("reserved label type")
        if size == 0:
            break
        label = message[at + 1 : at + 1 + size]
        if len(label) != size:
            raise Malformed("label runs past the message")
        length += size + 1
        if length > 255:
            raise Malformed("name longer than 255 bytes")
        try:
            labels.append(label.decode("ascii").lower())
        except UnicodeDecodeError:
            raise Malformed("name is not ASCII") from None
        at += 1 + size
    if length > 255:
        raise Malformed("name longer than 255 bytes")
    name = ".".join(labels)
    known[start] = name
    return name, (at + 1 if end < 0 else end)


def parse(message: bytes, seen_at: dt.datetime, seen_in: str) -> list[Answer]:
    """The answers of one DNS message; [] for a query, a failure, a truncated or malformed
    message."""
    try:
        return _parse(message, seen_at, seen_in)
    except (Malformed, struct.error, IndexError):
        return []


def _parse(message: bytes, seen_at: dt.datetime, seen_in: str) -> list[Answer]:
    if len(message) < _HEADER.size:
        return []
    _id, flags, questions, count, _ns, _ar = _HEADER.unpack_from(message)
    response, opcode, truncated, rcode = (
        flags >> 15,
        (flags >> 11) & 0xF,
        flags & 0x200,
        flags & 0xF,
    )
    if not response or opcode != 0 or truncated or rcode != 0 or not count:
        return []
    at = _HEADER.size
    known: dict[int, str] = {}
    asked: list[str] = []
    for _ in range(questions):
        name, at = _name(message, at, known)
        if at + 4 > len(message):
            raise Malformed("question cut short")
        at += 4
        asked.append(name)
    aliases: dict[str, str] = {}
    addresses: dict[str, list[str]] = {}
    for _ in range(count):
        owner, at = _name(message, at, known)
        if at + _RECORD.size > len(message):
            raise Malformed("record cut short")
        rtype, rclass, _ttl, size = _RECORD.unpack_from(message, at)
        at += _RECORD.size
        data = message[at : at + size]
        if len(data) != size:
            raise Malformed("record data cut short")
        if rclass == IN and rtype == CNAME:
            aliases.setdefault(owner, _name(message, at, known)[0])
        elif rclass == IN and (rtype, size) in ((A, 4), (AAAA, 16)):
            address = socket.inet_ntop(_FAMILY[size], data)
            bucket = addresses.setdefault(owner, [])
            if address not in bucket:
                bucket.append(address)
        at += size
    found: list[Answer] = []
    for name in dict.fromkeys(asked):
        chain = [name]
        while chain[-1] in aliases and len(chain) <= MAX_CHAIN:
            target = aliases[chain[-1]]
            if target in chain:
                break  # a CNAME loop leads nowhere
            chain.append(target)
        for address in addresses.get(chain[-1], []):
            found.extend(Answer(link, address, seen_at, seen_in) for link in chain if link)
    return found


class _Stream:
    """The bytes a port-53 server sent on one TCP connection, in order, not yet parsed."""

    __slots__ = ("held", "next_seq")

    def __init__(self) -> None:
        self.held = b""
        self.next_seq: int | None = None


class Responses:
    """Collects the answers of the DNS responses in a capture's packets (``feed`` each
    packet from port 53); ``take`` hands over those collected so far."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.answers: list[Answer] = []
        self.streams: dict[tuple[bytes, bytes, int], _Stream] = {}

    def take(self) -> list[Answer]:
        answers, self.answers = self.answers, []
        return answers

    def feed(
        self,
        number: int,
        ts: float,
        proto: int,
        key: tuple[bytes, bytes, int],
        seq: int,
        flags: int,
        payload: bytes,
    ) -> None:
        """One packet from port 53: ``key`` is (server, client, client port)."""

        def seen() -> tuple[dt.datetime, str]:
            return dt.datetime.fromtimestamp(ts, dt.UTC), f"{self.name}:{number}"

        if proto == 17:
            if payload:
                self.answers.extend(parse(payload, *seen()))
            return
        self._segment(key, seq, flags, payload, lambda m: self.answers.extend(parse(m, *seen())))

    def _segment(
        self,
        key: tuple[bytes, bytes, int],
        seq: int,
        flags: int,
        payload: bytes,
        emit: Callable[[bytes], None],
    ) -> None:
        stream = self.streams.get(key)
        if flags & 0x02:  # SYN: the stream starts after it
            if key not in self.streams and len(self.streams) >= MAX_STREAMS:
                self.streams.pop(next(iter(self.streams)))  # the oldest
            stream = self.streams[key] = _Stream()
            stream.next_seq = (seq + 1) & 0xFFFFFFFF
        if stream is None:
            # Joined mid-stream (the capture began later): where a message starts is unknown,
            # and bytes framed at a guess must not pair a name with the wrong address.
            return
        if payload and stream.next_seq is not None:
            offset = (stream.next_seq - seq) & 0xFFFFFFFF
            if offset < len(payload):  # new bytes (a retransmission of old ones adds none)
                stream.held += payload[offset:]
                stream.next_seq = (seq + len(payload)) & 0xFFFFFFFF
            elif offset < 1 << 31:
                pass  # entirely old: a retransmission
            else:  # a gap: bytes are missing, the rest cannot be framed
                stream.held, stream.next_seq = b"", None
        while len(stream.held) >= 2:
            size = int.from_bytes(stream.held[:2], "big")
            if len(stream.held) < 2 + size:
                break
            emit(stream.held[2 : 2 + size])
            stream.held = stream.held[2 + size :]
        if len(stream.held) > MAX_HELD:
            stream.held, stream.next_seq = b"", None
        if flags & 0x05:  # FIN or RST: the connection is over
            self.streams.pop(key, None)
