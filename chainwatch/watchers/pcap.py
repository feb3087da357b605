"""Packet captures (pcap, pcapng, gzip): connections of watched addresses, recognised by payload.

A capture is read like a flow file (``FlowWatcher``): a file, a directory of captures or
stdin; each capture is one transaction and a capture read before (same SHA-256) is skipped.
Each connection of a watched address becomes one record; where its payload shows a mining or
peer-to-peer protocol, on any port, that verdict (detector ``payload``, or ``endpoint`` for a
TLS server name a catalog lists) comes before catalogs and ports. Events cite
``capture:packet`` (the packet that completed the recognised message, else the connection's
first packet) and hash that packet's frame.

Checksums follow the watcher's policy (``checksums``: auto, validate, ignore; see
``chainwatch.pcap.checksums``). Hosts judged offloaded are named once per capture, and the
packets kept despite a wrong checksum and those dropped for one are counted in the summary.
"""

from __future__ import annotations

from collections.abc import Iterator

from chainwatch.classify import Classifier
from chainwatch.errors import InputError
from chainwatch.flows.inputs import FlowInput, head
from chainwatch.observations import Batch
from chainwatch.pcap.capture import is_capture
from chainwatch.pcap.reader import CaptureReader
from chainwatch.store.ingest import Ingest
from chainwatch.watchers.flows import FlowWatcher
from chainwatch.watchers.interface import ScanContext, WatcherResult

#: Summary counters of the checksum policy (not kept under ``ignore``, which checks nothing).
KEPT, DROPPED = "bad_checksum_kept", "bad_checksum_dropped"
#: Offloaded hosts named per capture; the rest are counted.
SHOWN_HOSTS = 10


class PcapWatcher(FlowWatcher):
    """Packet captures: payload recognition of mining and peer-to-peer traffic on any port."""

    kind = "pcap"
    unusable = "unusable packet"
    files = ("capture", "pcap or pcapng files")

    def run(self, ctx: ScanContext) -> WatcherResult:
        self._reader: CaptureReader | None = None
        result = super().run(ctx)
        if self.config.checksums != "ignore":
            for key in (KEPT, DROPPED):
                result.counts.setdefault(key, 0)
        return result

    def summarise(self, ctx: ScanContext, name: str, result: WatcherResult) -> None:
        """The capture's checksum policy: its counters, and the hosts judged offloaded."""
        if self._reader is None:
            return
        gate = self._reader.gate
        if gate.policy != "ignore":
            result.counts[KEPT] = result.counts.get(KEPT, 0) + gate.kept
            result.counts[DROPPED] = result.counts.get(DROPPED, 0) + gate.dropped
        notes = [
            f"{name}: checksums of {host} look offloaded; not validated"
            for host in gate.offloaded[:SHOWN_HOSTS]
        ]
        if len(gate.offloaded) > SHOWN_HOSTS:
            notes.append(
                f"{name}: checksums of {len(gate.offloaded) - SHOWN_HOSTS:,} more hosts look "
                "offloaded; not validated"
            )
        if gate.kept:
            s = "s" if gate.kept > 1 else ""
            notes.append(f"{name}: {gate.kept:,} packet{s} kept despite a wrong checksum")
        for note in notes:
            ctx.console.print(note, markup=False, highlight=False)

    def format_of(self, ctx: ScanContext, flow_input: FlowInput) -> str:
        if not is_capture(head(flow_input, 4)):
            raise InputError(
                flow_input.name,
                "is not a packet capture",
                expected="pcap or pcapng, optionally gzip-compressed",
            )
        return "pcap"

    def resume(
        self, ctx: ScanContext, ingest: Ingest, flow_input: FlowInput, fmt: str
    ) -> FlowInput:
        return flow_input  # a capture is read whole: its records are connections, not lines

    def batches(
        self, ctx: ScanContext, flow_input: FlowInput, fmt: str, classifier: Classifier
    ) -> Iterator[Batch]:
        self._reader = CaptureReader(
            flow_input, ctx.matcher, classifier, checksums=self.config.checksums
        )
        return self._reader.batches()
