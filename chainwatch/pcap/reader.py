"""Reading a capture into observation batches of connection records.

Packets are framed (``capture``), their headers decoded (``decode``), and their addresses
matched against the watchlists a chunk at a time, with each distinct address looked up once.
Packets of watched addresses pass the capture's checksum policy (``checksums``), are counted
into their connection, and their TCP payload reassembled and recognised (``connections``,
``payload``). A connection becomes one record of the flow schema when it has been idle for
``IDLE`` seconds of capture time (``LINGER`` after a FIN or RST), when its 5-tuple opens anew
after a FIN or RST, when the table is full (oldest first), or at the end of the capture. Frames
of a link type ``links`` cannot read are counted, and their reason given once. Records carry
their verdict in extra columns (``category``, ``detector``, ``confidence``, ``endpoint``,
``facts``), which ``chainwatch.match`` puts before catalogs and ports. DNS responses from port 53,
whoever they are for, become passive DNS answers (``dns``) in the batch of the packets they
came with (``Batch.answers``), so the match stage knows them before it classifies connections
that follow them.

Memory is bounded whatever the capture: at most ``MAX_CONNECTIONS`` open connections, at most
``connections.BUFFER`` bytes per direction, at most ``BUDGET`` buffered bytes in all, and about
``ANSWERS`` DNS answers (``dns.MAX_STREAMS`` TCP streams of ``dns.MAX_HELD`` bytes) at once.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from chainwatch.categories import Detector
from chainwatch.classify import Classifier
from chainwatch.errors import InputError
from chainwatch.flows.columns import PROTOCOLS, UTC_US
from chainwatch.flows.inputs import FlowInput, open_decoded
from chainwatch.match import covered
from chainwatch.observations import SCHEMA, VERDICT_SCHEMA, Batch
from chainwatch.pcap import capture, dns
from chainwatch.pcap.checksums import Gate
from chainwatch.pcap.connections import Connection, Reassembler, initiator_is_dst
from chainwatch.pcap.decode import ACK, SYN, TCP, UDP, Packet, decode
from chainwatch.pcap.links import SUPPORTED
from chainwatch.watchlists.matcher import RangeMatcher

#: Seconds of capture time after which a quiet connection is written out ...
IDLE = 300.0
#: ... or, once it sent a FIN or RST, a quiet closing one.
LINGER = 30.0
MAX_CONNECTIONS = 100_000
#: Bytes of stream starts held in all connections together.
BUDGET = 64 << 20
#: Frames decoded before their addresses are matched together.
CHUNK = 8192
#: Connection records per batch ...
RECORDS = 20_000
#: ... or DNS answers (a capture of mostly DNS yields batches of answers alone).
ANSWERS = 50_000
#: Distinct addresses remembered as watched or not before the memo starts afresh.
MEMO = 1 << 20
#: Problems kept with their packet number (the rest are counted).
EXAMPLES = 20


def _from_port_53(data: bytes) -> bool:
    """Whether an Ethernet + IPv4 frame is TCP or UDP from port 53 (read at fixed offsets)."""
    at = 14 + (data[14] & 0x0F) * 4
    return data[23] in (TCP, UDP) and data[at : at + 2] == b"\x00\x35"


def _address(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


class CaptureReader:
    """One capture, read into ``Batch`` objects (see the module docstring)."""

    def __init__(
        self,
        flow_input: FlowInput,
        matcher: RangeMatcher,
        classifier: Classifier,
        checksums: str = "auto",
    ) -> None:
        self.input = flow_input
        self.matcher = matcher
        self.reassembler = Reassembler(classifier.endpoint_for_host)
        self.table: dict[tuple[Any, ...], Connection] = {}
        self.memo: dict[bytes, bool] = {}
        self.records: list[tuple[Any, ...]] = []
        self.bad = 0
        self.examples: list[tuple[int, str]] = []
        self.bytes_read = 0
        #: Frames read since the last batch: usable ones, watched or not, are these less ``bad``.
        self.frames = 0
        self.clock = 0.0
        self.gate = Gate(checksums, self.skip)
        #: Link types met that cannot be read: their packets count, their reason shows once.
        self.unsupported: set[int] = set()
        self.dns = dns.Responses(flow_input.name)

    def skip(self, number: int, reason: str) -> None:
        self.bad += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append((number, reason))

    def _unsupported(self, frame: capture.Frame) -> None:
        if frame.linktype in self.unsupported:
            self.bad += 1
        else:
            self.unsupported.add(frame.linktype)
            self.skip(frame.number, f"link type {frame.linktype} is not supported")

    def batches(self) -> Iterator[Batch]:
        with open_decoded(self.input) as handle:
            try:
                frames = capture.frames(handle, self.skip)
            except capture.NotACapture:
                raise InputError(
                    self.input.name, "is not a packet capture", expected="pcap or pcapng"
                ) from None
            chunk: list[capture.Frame] = []
            for frame in frames:
                chunk.append(frame)
                if len(chunk) == CHUNK:
                    yield from self._chunk(chunk)
                    chunk = []
            yield from self._chunk(chunk)
        for frame, packet in self.gate.flush():
            self._packet(frame, packet)
        for key in list(self.table):
            self._close(key)
        yield self._batch()

    def _chunk(self, frames: list[capture.Frame]) -> Iterator[Batch]:
        # Most packets are not watched: for the common Ethernet + IPv4 frame, the addresses
        # are read at fixed offsets and only watched packets are decoded further. Other
        # frames are decoded first. Either way each distinct address is matched once.
        pending: list[tuple[capture.Frame, Packet | None, bytes, bytes]] = []
        self.frames += len(frames)
        for frame in frames:
            data = frame.data
            self.bytes_read += len(data) + 16
            if frame.linktype == 1 and data[12:14] == b"\x08\x00" and len(data) >= 34:
                pending.append((frame, None, data[26:30], data[30:34]))
                continue
            if frame.linktype not in SUPPORTED:
                self._unsupported(frame)
                continue
            packet = decode(frame.linktype, data)
            if isinstance(packet, Packet):
                pending.append((frame, packet, packet.src, packet.dst))
            elif packet is not None:
                self.skip(frame.number, packet)
        self._remember({p[2] for p in pending} | {p[3] for p in pending})
        memo = self.memo
        for frame, decoded, src, dst in pending:
            if decoded is None and _from_port_53(frame.data):
                decoded = self._dns(frame, decode(frame.linktype, frame.data))
            elif decoded is not None and decoded.sport == dns.PORT:
                self._dns(frame, decoded)
            if not (memo[src] or memo[dst]):
                continue
            packet = decoded or decode(frame.linktype, frame.data)
            if isinstance(packet, str):
                self.skip(frame.number, packet)
                continue
            assert packet is not None
            for ready, decoded_packet in self.gate.push(frame, packet):
                self._packet(ready, decoded_packet)
            if len(self.records) >= RECORDS:
                yield self._batch()
        if frames and not self.gate.holding:  # held packets still belong to open connections
            self._sweep(frames[-1].ts)
        if len(self.dns.answers) >= ANSWERS:
            yield self._batch()

    def _dns(self, frame: capture.Frame, packet: Packet | str | None) -> Packet | None:
        """Read the answers of a packet from port 53 (checksums unchecked: a damaged
        message fails to parse, and offloaded checksums would lose good ones)."""
        if not isinstance(packet, Packet):
            return None  # the packet is looked at again, and its problem counted, if watched
        if packet.proto in (TCP, UDP) and packet.sport == dns.PORT:
            key = (packet.src, packet.dst, packet.dport)
            self.dns.feed(
                frame.number, frame.ts, packet.proto, key, packet.seq, packet.flags, packet.payload
            )
        return packet

    def _remember(self, addresses: set[bytes]) -> None:
        """Match the addresses not yet known, all at once."""
        new = [a for a in addresses if a not in self.memo]
        if not new:
            return
        if len(self.memo) + len(new) > MEMO:
            self.memo = {}
            new = list(addresses)
        # Any time: the records' exact (timed) match is ``match_batch``'s.
        self.memo.update(zip(new, covered(self.matcher, new), strict=True))

    def _packet(self, frame: capture.Frame, packet: Packet) -> None:
        a, b = (packet.src, packet.sport), (packet.dst, packet.dport)
        key = (packet.proto, *(a + b if a <= b else b + a))
        conn = self.table.get(key)
        if conn is not None and conn.closing and packet.flags & (SYN | ACK) == SYN:
            self._close(key)  # the 5-tuple is reused by a new connection
            conn = None
        if conn is None:
            if len(self.table) >= MAX_CONNECTIONS:
                for old in list(self.table)[: MAX_CONNECTIONS // 10]:
                    self._close(old)
            swap = initiator_is_dst(packet)
            conn = Connection(
                first_ts=frame.ts,
                last_ts=frame.ts,
                version=packet.version,
                proto=packet.proto,
                src=packet.dst if swap else packet.src,
                dst=packet.src if swap else packet.dst,
                sport=packet.dport if swap else packet.sport,
                dport=packet.sport if swap else packet.dport,
                first_number=frame.number,
                first_digest=hashlib.sha256(frame.data).hexdigest(),
            )
            self.table[key] = conn
        conn.packets += 1
        conn.bytes += packet.length
        conn.last_ts = max(conn.last_ts, frame.ts)
        self.reassembler.feed(conn, packet, frame.number, frame.data)

    def _sweep(self, now: float) -> None:
        """Write out connections idle for IDLE seconds; keep buffered bytes under BUDGET."""
        if now - self.clock >= LINGER:
            self.clock = now
            quiet = [
                k
                for k, c in self.table.items()
                if now - c.last_ts > (LINGER if c.closing else IDLE)
            ]
            for key in quiet:
                self._close(key)
        if self.reassembler.buffered > BUDGET:
            for conn in self.table.values():
                for direction in conn.directions:
                    self.reassembler.finish(direction)

    def _close(self, key: tuple[Any, ...]) -> None:
        conn = self.table.pop(key)
        for direction in conn.directions:
            self.reassembler.finish(direction)
        found = conn.found()
        number, digest = conn.first_number, conn.first_digest
        verdict: tuple[Any, ...] = (None, None, None, None, None)
        if found is not None:
            number, digest = found.number, found.digest
            detector = Detector.ENDPOINT if found.endpoint else Detector.PAYLOAD
            facts = json.dumps(found.verdict.facts, ensure_ascii=False, sort_keys=True)
            verdict = (
                found.verdict.category,
                detector.value,
                found.verdict.confidence,
                found.endpoint,
                facts,
            )
        self.records.append(
            (
                round(conn.first_ts * 1_000_000),
                _address(conn.src),
                _address(conn.dst),
                conn.sport if conn.sport >= 0 else None,
                conn.dport if conn.dport >= 0 else None,
                PROTOCOLS.get(str(conn.proto), str(conn.proto)),
                conn.bytes,
                conn.packets,
                number,
                digest,
                *verdict,
            )
        )

    def _batch(self) -> Batch:
        rows = self.records
        self.records = []
        columns = list(zip(*rows, strict=True)) if rows else [()] * 15
        arrays = [
            pa.array(columns[0], pa.int64()).cast(pa.timestamp("us")).cast(UTC_US),
            *(pa.array(columns[i], SCHEMA.field(i).type) for i in range(1, 8)),
            pa.nulls(len(rows), pa.string()),
            *(pa.array(columns[10 + i], f.type) for i, f in enumerate(VERDICT_SCHEMA)),
        ]
        table = pa.Table.from_arrays(arrays, schema=pa.schema([*SCHEMA, *VERDICT_SCHEMA]))
        batch = Batch(
            table,
            np.asarray(columns[8], dtype=np.int64),
            [],
            bad=self.bad,
            bad_examples=sorted(self.examples),  # packets held for their checksums come late
            bytes_read=self.bytes_read,
            digests=list(columns[9]),
            # Unwatched traffic is usable too: a capture of it is not "nothing could be used".
            usable=max(self.frames - self.bad, len(rows)),
            answers=self.dns.take(),
        )
        self.bad, self.examples, self.bytes_read, self.frames = 0, [], 0, 0
        return batch
