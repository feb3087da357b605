"""Packet captures (pcap, pcapng, gzip): connections of watched addresses, recognised by payload.

A capture is read like a flow file (``FlowWatcher``): a file, a directory of captures or
stdin; each capture is one transaction and a capture read before (same SHA-256) is skipped.
Each connection of a watched address becomes one record; where its payload shows a mining or
peer-to-peer protocol, on any port, that verdict (detector ``payload``, or ``endpoint`` for a
TLS server name a catalog lists) comes before catalogs and ports. Events cite
``capture:packet`` (the packet that completed the recognised message, else the connection's
first packet) and hash that packet's frame.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection

from chainwatch.classify import Classifier
from chainwatch.errors import InputError
from chainwatch.flows.inputs import FlowInput, head
from chainwatch.flows.readers import Batch
from chainwatch.pcap.capture import is_capture
from chainwatch.pcap.reader import CaptureReader
from chainwatch.watchers.flows import FlowWatcher
from chainwatch.watchers.interface import ScanContext


class PcapWatcher(FlowWatcher):
    """Packet captures: payload recognition of mining and peer-to-peer traffic on any port."""

    kind = "pcap"
    unusable = "unusable packet"
    files = ("capture", "pcap or pcapng files")

    def _format(self, ctx: ScanContext, flow_input: FlowInput) -> str:
        if not is_capture(head(flow_input, 4)):
            raise InputError(
                flow_input.name,
                "is not a packet capture",
                expected="pcap or pcapng, optionally gzip-compressed",
            )
        return "pcap"

    def _resume(
        self, ctx: ScanContext, conn: Connection, flow_input: FlowInput, fmt: str
    ) -> FlowInput:
        return flow_input  # a capture is read whole: its records are connections, not lines

    def _batches(
        self, ctx: ScanContext, flow_input: FlowInput, fmt: str, classifier: Classifier
    ) -> Iterator[Batch]:
        return CaptureReader(flow_input, ctx.matcher, classifier).batches()
