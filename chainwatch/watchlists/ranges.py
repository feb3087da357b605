"""Watched ranges held as columns, and the one parser every watchlist form uses to fill them.

A country-sized watchlist has a million ranges, so a watchlist keeps its ranges as numpy
columns (``RangeTable``) rather than a million ``ipaddress`` objects: the matcher compiles
straight from the columns, and ``Range`` objects are made only when someone asks for them
(``chainwatch watchlist show``). ``builder.py`` fills the columns from the files.

Each range may carry a validity window (``valid_from``/``valid_to``, DESIGN.md "Watchlists and
catalogs"): dates ``YYYY-MM-DD`` or ISO-8601 times with a zone, both bounds inclusive, a date
``valid_to`` meaning through the end of that day (UTC). Windows are kept as microseconds since
the epoch, unbounded ends as the extremes of int64.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Unbounded window ends.
NO_START = int(np.iinfo(np.int64).min)
NO_END = int(np.iinfo(np.int64).max)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY_US = 86_400_000_000
_LOW64 = (1 << 64) - 1


def micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch of a timezone-aware time."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def window_text(start: int, end: int) -> str:
    """A window as people write it: ``2017-01-01..2017-03-31``, ``..2017-03-31``, or ``""``."""
    if start == NO_START and end == NO_END:
        return ""

    def text(value: int, *, last: bool) -> str:
        if value in (NO_START, NO_END):
            return ""
        if (value + (1 if last else 0)) % _DAY_US == 0:
            day = from_micros(value - (_DAY_US - 1 if last else 0)).date()
            return day.isoformat()
        return from_micros(value).isoformat().replace("+00:00", "Z")

    return f"{text(start, last=False)}..{text(end, last=True)}"


@dataclass(frozen=True)
class Range:
    """One watched range. ``line`` is where it stands in its file (None when unknown);
    ``valid_from``/``valid_to`` bound, inclusive, the record times it counts for (None:
    unbounded); ``source`` is the CSV form's per-range source."""

    network: IPNetwork
    note: str | None = None
    line: int | None = None
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    source: str | None = None

    @property
    def cidr(self) -> str:
        return str(self.network)

    @property
    def window(self) -> str:
        """The validity window as text (see ``window_text``)."""
        return window_text(
            NO_START if self.valid_from is None else micros(self.valid_from),
            NO_END if self.valid_to is None else micros(self.valid_to),
        )


@dataclass(frozen=True)
class RangeTable:
    """A watchlist's ranges as columns, in file order. A range's first address is
    ``hi << 64 | lo`` (IPv4 in ``lo``); windows are microseconds (``NO_START``/``NO_END``)."""

    version: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    prefix: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    notes: Sequence[str | None]
    sources: Sequence[str | None]
    lines: Sequence[int | None]

    def __len__(self) -> int:
        return len(self.version)

    @property
    def dated(self) -> np.ndarray:
        """Per range: whether it has a window."""
        dated: np.ndarray = (self.valid_from != NO_START) | (self.valid_to != NO_END)
        return dated

    def cidr(self, i: int) -> str:
        """Range i as ``ipaddress`` writes it (the form stored and shown everywhere)."""
        address: ipaddress.IPv4Address | ipaddress.IPv6Address
        if self.version[i] == 4:
            address = ipaddress.IPv4Address(int(self.lo[i]))
        else:
            address = ipaddress.IPv6Address(int(self.hi[i]) << 64 | int(self.lo[i]))
        return f"{address}/{self.prefix[i]}"

    def network(self, i: int) -> IPNetwork:
        value = int(self.hi[i]) << 64 | int(self.lo[i])
        return ipaddress.ip_network((value, int(self.prefix[i])))

    def range(self, i: int) -> Range:
        start, end = int(self.valid_from[i]), int(self.valid_to[i])
        return Range(
            network=self.network(i),
            note=self.notes[i],
            line=self.lines[i],
            valid_from=None if start == NO_START else from_micros(start),
            valid_to=None if end == NO_END else from_micros(end),
            source=self.sources[i],
        )

    @classmethod
    def of(cls, ranges: Iterable[Range]) -> RangeTable:
        """Columns of ready-made ``Range`` objects (tests, benchmarks, small lists)."""
        items = list(ranges)
        values = [int(r.network.network_address) for r in items]
        return cls(
            version=np.array([r.network.version for r in items], dtype=np.uint8),
            hi=np.array([v >> 64 for v in values], dtype=np.uint64),
            lo=np.array([v & _LOW64 for v in values], dtype=np.uint64),
            prefix=np.array([r.network.prefixlen for r in items], dtype=np.uint8),
            valid_from=np.array(
                [NO_START if r.valid_from is None else micros(r.valid_from) for r in items],
                dtype=np.int64,
            ),
            valid_to=np.array(
                [NO_END if r.valid_to is None else micros(r.valid_to) for r in items],
                dtype=np.int64,
            ),
            notes=[r.note for r in items],
            sources=[r.source for r in items],
            lines=[r.line for r in items],
        )
