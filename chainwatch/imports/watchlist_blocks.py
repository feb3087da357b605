"""What the watchlist importers (``rir``, ``geolite2``, ``pfx2as``, ``list``) share: the
selection (``--country``/``--asn``), the blocks they yield, the lines they skip, and the
interval arithmetic that says where two sources disagree.

Each format's parser is a pure function from a member's numbered text lines (or an MMDB's
bytes) to ``Block``s: one watched network, the note saying what selected it (``KP``,
``AS131279 Star JV``, ``KP registered``) and, where the data give it, the date from which it
is valid. A parser refuses a malformed line with a ``WatchlistError`` naming file:line (the
import then writes nothing) and counts the lines it passes over on purpose in ``Skips``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from chainwatch.watchlists.builder import MIN_PREFIX

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: (first address, last address) as integers, inclusive.
Interval = tuple[int, int]
#: Format name -> what it reads (``--help`` and the README list these).
FORMATS: dict[str, str] = {
    "rir": "RIR delegated and delegated-extended statistics files (all five registries)",
    "geolite2": "MaxMind GeoLite2/GeoIP2 Country or ASN data: CSV (blocks + locations, or "
    "the zip) or MMDB",
    "pfx2as": "CAIDA RouteViews prefix-to-AS files, IPv4 and IPv6 (.gz as published)",
    "list": "one address or CIDR per line, # comments (a comment after an entry is its note)",
}


@dataclass(frozen=True)
class Selection:
    """What ``--country`` and ``--asn`` ask for. A block is kept when it matches either."""

    countries: frozenset[str] = frozenset()
    asns: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.countries or self.asns)

    def describe(self) -> str:
        parts = sorted(self.countries) + [f"AS{n}" for n in sorted(self.asns)]
        return ", ".join(parts) or "everything"


@dataclass(frozen=True)
class Block:
    """One network to watch, why it was selected (``note``) and from when (``valid_from``)."""

    network: IPNetwork
    note: str | None = None
    valid_from: dt.date | None = None


@dataclass
class Skips:
    """Lines passed over on purpose, by reason, each with the file:line of its first one."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, where: str) -> None:
        if reason not in self.counts:
            self.counts[reason] = 0
            self.first[reason] = where
        self.counts[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        """One line per reason: ``  3 summary lines (first at delegated-apnic-latest:2)``."""
        return [
            f"{count:>9,} {reason} (first at {self.first[reason]})"
            for reason, count in sorted(self.counts.items(), key=lambda item: -item[1])
        ]


def prefix_problem(address: str, length: str) -> str | None:
    """None when ``address/length`` is a network (host bits clear), else what is wrong with
    it. ``socket.inet_pton`` checks the millions of lines a parser does not keep in a tenth of
    the time ``ipaddress.ip_network`` takes; the kept ones are made networks afterwards."""
    try:
        if ":" in address:
            value, width = int.from_bytes(socket.inet_pton(socket.AF_INET6, address)), 128
        else:
            value, width = int.from_bytes(socket.inet_pton(socket.AF_INET, address)), 32
    except OSError:
        return f"{address!r} is not an IPv4 or IPv6 address"
    if not length.isdigit() or int(length) > width:
        return f"prefix length {length!r} is not 0 to {width}"
    if value & ((1 << (width - int(length))) - 1):
        return f"{address}/{length} has host bits set"
    return None


def within_loader_limits(network: IPNetwork) -> list[IPNetwork]:
    """``network``, or its subnets of the shortest prefix the watchlist loader accepts when it
    is broader (a registry's /6 IPv6 block becomes /16s): the same addresses, loadable."""
    shortest = MIN_PREFIX[network.version]
    if network.prefixlen >= shortest:
        return [network]
    return list(network.subnets(new_prefix=shortest))


def addresses_text(version: int, count: int) -> str:
    """An address count as people read it: IPv4 addresses, IPv6 in /64s when whole."""
    if version == 4:
        return f"{count:,} IPv4 addresses"
    if count % (1 << 64) == 0:
        return f"{count >> 64:,} IPv6 /64s"
    return f"{count:,} IPv6 addresses"


def interval(network: IPNetwork) -> Interval:
    return int(network.network_address), int(network.broadcast_address)


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, non-adjacent intervals covering the same addresses."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1] + 1:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def difference(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The addresses of ``a`` not in ``b`` (both ``merged``)."""
    out: list[Interval] = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] < start:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= end:
            if b[k][0] > start:
                out.append((start, b[k][0] - 1))
            start = max(start, b[k][1] + 1)
            if start > end:
                break
            k += 1
        if start <= end:
            out.append((start, end))
    return out


def size(intervals: Iterable[Interval]) -> int:
    return sum(end - start + 1 for start, end in intervals)


def cidrs(version: int, intervals: Iterable[Interval]) -> Iterator[IPNetwork]:
    """The minimal CIDRs covering the intervals, in order."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    for start, end in intervals:
        yield from ipaddress.summarize_address_range(make(start), make(end))
