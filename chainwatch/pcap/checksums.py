"""The checksum policy of a capture: which packets with wrong checksums are kept.

A capture taken on a host itself shows that host's outgoing packets before its network card
fills their checksums in (checksum offload): Windows leaves the IPv4 and TCP checksums zero,
other drivers leave whatever was in the buffer. Those packets are genuine; a packet whose
checksum was damaged on the wire is not. Three policies (``--checksums``):

- ``validate``: every packet with a wrong checksum is dropped;
- ``ignore``: checksums are never looked at;
- ``auto`` (the default, as Suricata's ``checksum-validation: auto`` but per host): checksums
  are validated, and a host whose own packets show the signs of offload stops being checked.
  The signs: at least ``OFFLOAD_MIN`` of its packets have wrong checksums and at most one in ten
  is right, while packets *to* it arrive with right ones (offload is one-sided: the card only
  skips what its host sends). A host whose packets are right ``VALID_MIN`` times first is
  judged valid, and its wrong packets are dropped. Until a host with a wrong packet is judged,
  that packet and every watched packet after it are held back (at most ``HOLD``), so packets
  still reach their connections in capture order.

``Gate.push`` takes each watched packet and returns those ready, in order; ``Gate.flush``
judges what is still held at the end of the capture.
"""

from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass

from chainwatch.config import CHECKSUM_POLICIES as POLICIES
from chainwatch.pcap.capture import Frame, Skip
from chainwatch.pcap.decode import Fault, Packet, checksum_fault

#: Wrong packets from one host before it can be judged offloaded ...
OFFLOAD_MIN = 3
#: ... and right ones before it is judged valid.
VALID_MIN = 3
#: Watched packets held back while a host is judged; past it the oldest host is judged now.
HOLD = 4096
#: Hosts remembered; past it, hosts judged valid are forgotten (they are judged again).
MAX_HOSTS = 200_000

Ready = tuple[Frame, Packet]


@dataclass(slots=True)
class _Host:
    good: int = 0  # packets it sent with right checksums
    bad: int = 0  # ... with wrong ones
    zero: int = 0  # ... of which the field held zero
    received: int = 0  # packets sent to it with right checksums
    offloaded: bool | None = None  # None until judged


class Gate:
    """Applies one policy to the watched packets of one capture (see the module docstring).

    ``kept`` counts packets kept despite a wrong checksum, ``dropped`` those dropped for one
    (each also reported through ``skip``), ``offloaded`` the hosts judged offloaded, in order.
    """

    def __init__(self, policy: str, skip: Skip) -> None:
        if policy not in POLICIES:
            raise ValueError(f"checksum policy {policy!r} is not one of {POLICIES}")
        self.policy = policy
        self.skip = skip
        self.kept = 0
        self.dropped = 0
        self.offloaded: list[str] = []
        self.hosts: dict[bytes, _Host] = {}
        self.held: deque[tuple[Frame, Packet, Fault | None]] = deque()

    @property
    def holding(self) -> bool:
        return bool(self.held)

    def push(self, frame: Frame, packet: Packet) -> list[Ready]:
        """The packets ready to be used after ``packet``, in capture order."""
        if self.policy == "ignore":
            return [(frame, packet)]
        fault = checksum_fault(frame.data, packet)
        if self.policy == "validate":
            if fault is None:
                return [(frame, packet)]
            self._drop(frame, fault)
            return []
        if fault is None:
            self._host(packet.dst).received += 1
        sender = self._host(packet.src)
        if fault is None:
            sender.good += 1
        else:
            sender.bad += 1
            sender.zero += fault.zero
        if sender.offloaded is None:
            self._judge(packet.src, sender, final=False)
        if not self.held and (fault is None or sender.offloaded is not None):
            return self._release(frame, packet, fault)
        self.held.append((frame, packet, fault))
        if len(self.held) > HOLD:
            first = self.held[0][1].src
            self._judge(first, self.hosts[first], final=True)
        return self._drain()

    def flush(self) -> list[Ready]:
        """Everything still held, each waiting host judged on what the capture showed."""
        ready: list[Ready] = []
        while self.held:
            first = self.held[0][1].src
            self._judge(first, self.hosts[first], final=True)
            ready += self._drain()
        return ready

    def _host(self, address: bytes) -> _Host:
        host = self.hosts.get(address)
        if host is None:
            if len(self.hosts) >= MAX_HOSTS:
                # Hosts judged offloaded, and those waiting with wrong packets, are kept.
                self.hosts = {
                    a: h
                    for a, h in self.hosts.items()
                    if h.offloaded or (h.offloaded is None and h.bad)
                }
            host = self.hosts[address] = _Host()
        return host

    def _judge(self, address: bytes, host: _Host, *, final: bool) -> None:
        if host.offloaded is not None:
            return
        # Few packets (a lone DNS query) are enough at the end when every wrong one held zero:
        # damage on the wire does not write zeros.
        enough = host.bad >= OFFLOAD_MIN or (final and host.zero == host.bad)
        if host.bad and host.received and host.bad >= 9 * host.good and enough:
            host.offloaded = True
            family = socket.AF_INET if len(address) == 4 else socket.AF_INET6
            self.offloaded.append(socket.inet_ntop(family, address))
            return
        if host.good >= VALID_MIN or final:
            host.offloaded = False

    def _drain(self) -> list[Ready]:
        ready: list[Ready] = []
        while self.held:
            frame, packet, fault = self.held[0]
            if fault is not None and self._verdict(packet.src) is None:
                break
            self.held.popleft()
            ready += self._release(frame, packet, fault)
        return ready

    def _release(self, frame: Frame, packet: Packet, fault: Fault | None) -> list[Ready]:
        if fault is None:
            return [(frame, packet)]
        if self._verdict(packet.src):
            self.kept += 1
            return [(frame, packet)]
        self._drop(frame, fault)
        return []

    def _verdict(self, address: bytes) -> bool | None:
        """Whether the host is judged offloaded; a host no longer remembered was judged valid
        (only those, and hosts without wrong packets, are forgotten)."""
        host = self.hosts.get(address)
        return False if host is None else host.offloaded

    def _drop(self, frame: Frame, fault: Fault) -> None:
        self.dropped += 1
        self.skip(frame.number, fault.reason)
