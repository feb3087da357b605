"""Connections of a capture: packet counts, and the reassembled first bytes of each direction.

A connection is one TCP or UDP 5-tuple (or, for other IP protocols, an address pair) seen in
both directions. Its initiator is the sender of the first SYN, else of the first packet. For
TCP, each direction's payload is put back in sequence order (retransmissions trimmed, a few
out-of-order segments held back) until ``BUFFER`` bytes, or ``LOOK_PACKETS`` data packets once
recognised: enough to read the first messages of any protocol ``payload`` knows. A direction
whose first bytes cannot start one of them is not buffered at all. Each buffered packet's
frame hash and where its bytes end in the stream are kept, so the packet that completed the
recognised message can be cited and hashed as the evidence. For UDP, each direction's first
``DATAGRAMS`` datagrams are looked at one by one (``obfuscation``: OpenVPN, WireGuard, IKE);
nothing is buffered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from chainwatch.categories import CONFIDENCE, Detector
from chainwatch.pcap import obfuscation, payload
from chainwatch.pcap.decode import ACK, FIN, RST, SYN, TCP, UDP, Packet
from chainwatch.watchlists import Endpoint

#: Bytes of each direction kept for recognition.
BUFFER = 8192
#: Data packets of a recognised direction read for more facts (a worker name after the user
#: agent) before its buffer is let go.
LOOK_PACKETS = 64
#: Out-of-order segments held per direction while a gap is open.
MAX_PENDING = 16
#: Datagrams of each UDP direction looked at: a handshake opens the conversation, and its
#: retransmissions come within the first few.
DATAGRAMS = 4

#: Looks a TLS server name up in the catalogs (``Classifier.endpoint_for_host``).
HostLookup = Callable[[str], Endpoint | None]


@dataclass(frozen=True)
class Found:
    """A recognised direction: the verdict, and the packet (number, frame SHA-256) that
    completed its first recognised message."""

    verdict: payload.Verdict
    number: int
    digest: str
    endpoint: str | None = None


@dataclass(slots=True)
class Direction:
    """One direction's stream start; ``done`` once it has been looked at for good."""

    next_seq: int | None = None
    data: bytearray = field(default_factory=bytearray)
    pending: dict[int, tuple[bytes, int, str]] = field(default_factory=dict)
    segments: list[tuple[int, int, str]] = field(default_factory=list)
    packets: int = 0
    done: bool = False
    found: Found | None = None


@dataclass(slots=True)
class Connection:
    first_ts: float
    last_ts: float
    version: int
    proto: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    first_number: int
    first_digest: str
    packets: int = 0
    bytes: int = 0
    closing: bool = False
    directions: tuple[Direction, Direction] = field(
        default_factory=lambda: (Direction(), Direction())
    )

    def found(self) -> Found | None:
        """The verdict of the direction recognised first, with facts the other adds."""
        hits = sorted(
            (d.found for d in self.directions if d.found is not None), key=lambda f: f.number
        )
        if not hits:
            return None
        first = hits[0]
        for other in hits[1:]:
            if first.endpoint is None and other.endpoint is None:
                verdict = payload.merged(first.verdict, other.verdict)
                if verdict is not None:
                    first = Found(verdict, first.number, first.digest, first.endpoint)
            elif other.verdict.category == first.verdict.category:
                for key, value in other.verdict.facts.items():
                    first.verdict.facts.setdefault(key, value)
        return first


class Reassembler:
    """Feeds TCP payload into connections' directions and recognises what they carry."""

    def __init__(self, lookup: HostLookup) -> None:
        self.lookup = lookup
        self.buffered = 0  # bytes held in all directions, for the caller's memory budget

    def feed(self, conn: Connection, packet: Packet, number: int, frame: bytes) -> None:
        if packet.proto not in (TCP, UDP):
            return
        forward = packet.src == conn.src and packet.sport == conn.sport
        direction = conn.directions[0 if forward else 1]
        if packet.proto == UDP:
            self._datagram(direction, packet, number, frame)
            return
        if packet.flags & (FIN | RST):
            conn.closing = True
        if direction.done:
            return
        if packet.flags & SYN:
            direction.next_seq = (packet.seq + 1) & 0xFFFFFFFF
            return
        if not packet.payload:
            return
        if direction.next_seq is None:
            direction.next_seq = packet.seq  # the capture began mid-connection
        ahead = (packet.seq - direction.next_seq) & 0xFFFFFFFF
        if ahead >= 1 << 31:  # behind: a retransmission, perhaps with new bytes at its end
            overlap = (1 << 32) - ahead
            if overlap < len(packet.payload):
                self._append(direction, packet.payload[overlap:], number, frame)
        elif ahead == 0:
            self._append(direction, packet.payload, number, frame)
        elif ahead < BUFFER and len(direction.pending) < MAX_PENDING:
            digest = hashlib.sha256(frame).hexdigest()
            direction.pending[packet.seq] = (packet.payload, number, digest)
        self._drain(direction)
        if len(direction.data) >= BUFFER or (
            direction.found is not None and direction.packets >= LOOK_PACKETS
        ):
            self.finish(direction)
        elif not direction.done and direction.found is None and _power_of_two(direction.packets):
            self._look(direction, final=False)  # at 1, 2, 4, 8... packets: few attempts

    def _datagram(self, direction: Direction, packet: Packet, number: int, frame: bytes) -> None:
        if direction.done or not packet.payload:
            return
        direction.packets += 1
        match = obfuscation.datagram(packet.payload, packet.sport, packet.dport)
        if match is not None:
            digest = hashlib.sha256(frame).hexdigest()
            direction.found = Found(payload.Verdict(*match), number, digest)
        direction.done = match is not None or direction.packets >= DATAGRAMS

    def _append(self, direction: Direction, data: bytes, number: int, frame: bytes | str) -> None:
        if not direction.data and not payload.plausible(data[:8]):
            direction.done = True  # nothing payload knows starts like this
            return
        room = BUFFER - len(direction.data)
        taken = data[:room]
        direction.data += taken
        self.buffered += len(taken)
        digest = frame if isinstance(frame, str) else hashlib.sha256(frame).hexdigest()
        direction.segments.append((len(direction.data), number, digest))
        direction.packets += 1
        assert direction.next_seq is not None
        direction.next_seq = (direction.next_seq + len(data)) & 0xFFFFFFFF

    def _drain(self, direction: Direction) -> None:
        while not direction.done and direction.next_seq in direction.pending:
            data, number, digest = direction.pending.pop(direction.next_seq)
            self._append(direction, data, number, digest)

    def _look(self, direction: Direction, *, final: bool) -> None:
        verdict = payload.recognise(bytes(direction.data), final=final)
        if verdict is None:
            return
        endpoint = None
        if verdict.sni is not None:
            catalog = self.lookup(verdict.sni)
            if catalog is None:
                return  # a TLS server that no catalog names
            endpoint = catalog.name
            verdict = payload.Verdict(
                catalog.category, CONFIDENCE[Detector.ENDPOINT], verdict.facts, verdict.end
            )
        number, digest = next(
            ((n, d) for end, n, d in direction.segments if end >= verdict.end),
            direction.segments[-1][1:],
        )
        direction.found = Found(verdict, number, digest, endpoint)

    def finish(self, direction: Direction) -> None:
        """Look at what the direction holds one last time, and let its buffer go."""
        if direction.done:
            return
        if direction.data:
            self._look(direction, final=True)
        self.buffered -= len(direction.data)
        direction.data = bytearray()
        direction.pending.clear()
        direction.segments.clear()
        direction.done = True


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def initiator_is_dst(packet: Packet) -> bool:
    """A SYN+ACK as the first packet seen: its sender answered, so the receiver initiated."""
    return packet.proto == TCP and packet.flags & (SYN | ACK) == (SYN | ACK)
