"""Watched ranges held as columns, and the one parser every watchlist form uses to fill them.

A country-sized watchlist has a million ranges, so a watchlist keeps its ranges as numpy
columns (``RangeTable``) rather than a million ``ipaddress`` objects: the matcher compiles
straight from the columns, and ``Range`` objects are made only when someone asks for them
(``chainwatch watchlist show``, syncing the database). CIDRs are parsed with
``socket.inet_pton`` (C) and integer arithmetic, about 5 times faster than
``ipaddress.ip_network`` over the same texts (``benchmarks/watchlists.py``), with the same
rules: no host bits set, a prefix within the family's width.

Each range may carry a validity window (``valid_from``/``valid_to``, DESIGN.md "Watchlists and
catalogs"): dates ``YYYY-MM-DD`` or ISO-8601 times with a zone, both bounds inclusive, a date
``valid_to`` meaning through the end of that day (UTC). Windows are kept as microseconds since
the epoch, unbounded ends as the extremes of int64.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainwatch.errors import WatchlistError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Shortest prefixes accepted without ``allow_broad``.
MIN_PREFIX = {4: 8, 6: 16}
#: Unbounded window ends.
NO_START = int(np.iinfo(np.int64).min)
NO_END = int(np.iinfo(np.int64).max)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY_US = 86_400_000_000
_DATE_HELP = 'a date "2017-01-31" or an ISO-8601 UTC time "2017-01-31T12:00:00Z"'


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
        builder = RangeBuilder(Path("<ranges>"))
        for item in ranges:
            builder.add_network(item)
        return builder.build(check_duplicates=False)


class RangeBuilder:
    """Collects one file's ranges, validating each as it comes; ``build`` makes the table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._version: list[int] = []
        self._value: list[int] = []
        self._prefix: list[int] = []
        self._from: list[int] = []
        self._to: list[int] = []
        self.notes: list[str | None] = []
        self.sources: list[str | None] = []
        self.lines: list[int | None] = []
        self._dates: dict[Any, int] = {}

    def __len__(self) -> int:
        return len(self._version)

    def add(
        self,
        text: Any,
        *,
        line: int | None,
        entry: str | None = None,
        note: str | None = None,
        source: str | None = None,
        valid_from: Any = None,
        valid_to: Any = None,
        allow_broad: bool = False,
    ) -> None:
        """Validate and add one range; raises ``WatchlistError`` naming file and line."""
        version, value, prefix = self._cidr(text, line, entry, allow_broad)
        start = (
            NO_START
            if valid_from in (None, "")
            else self._when(valid_from, "valid_from", line, entry, last=False)
        )
        end = (
            NO_END
            if valid_to in (None, "")
            else self._when(valid_to, "valid_to", line, entry, last=True)
        )
        if end < start:
            raise WatchlistError(
                self.path,
                f"valid_to {valid_to} is before valid_from {valid_from}",
                line=line,
                entry=entry,
                expected="valid_from on or before valid_to",
            )
        self._version.append(version)
        self._value.append(value)
        self._prefix.append(prefix)
        self._from.append(start)
        self._to.append(end)
        self.notes.append(note)
        self.sources.append(source)
        self.lines.append(line)

    def add_network(self, item: Range) -> None:
        net = item.network
        self._version.append(net.version)
        self._value.append(int(net.network_address))
        self._prefix.append(net.prefixlen)
        self._from.append(NO_START if item.valid_from is None else micros(item.valid_from))
        self._to.append(NO_END if item.valid_to is None else micros(item.valid_to))
        self.notes.append(item.note)
        self.sources.append(item.source)
        self.lines.append(item.line)

    def _cidr(
        self, text: Any, line: int | None, entry: str | None, allow_broad: bool
    ) -> tuple[int, int, int]:
        if not isinstance(text, str):
            raise WatchlistError(
                self.path,
                f"cidr is {text!r}",
                line=line,
                entry=entry,
                expected='a string like "192.0.2.0/24"',
            )
        address, slash, length = text.strip().partition("/")
        try:
            if ":" in address:
                version, width = 6, 128
                value = int.from_bytes(socket.inet_pton(socket.AF_INET6, address))
            else:
                version, width = 4, 32
                # inet_pton accepts exactly the dotted quad ipaddress does (no leading zeros).
                value = int.from_bytes(socket.inet_pton(socket.AF_INET, address))
            prefix = int(length) if slash else width
            if not (slash == "" or length.isdigit()) or not 0 <= prefix <= width:
                raise ValueError
        except (OSError, ValueError):
            raise WatchlistError(
                self.path,
                f"bad CIDR {text!r}: not an IPv4 or IPv6 network",
                line=line,
                entry=entry,
                expected='a network like "192.0.2.0/24" or "2001:db8::/32"',
            ) from None
        if value & ((1 << (width - prefix)) - 1):
            raise WatchlistError(
                self.path,
                f"bad CIDR {text!r}: host bits set",
                line=line,
                entry=entry,
                expected='a network like "192.0.2.0/24" or "2001:db8::/32"',
            )
        shortest = MIN_PREFIX[version]
        if prefix < shortest and not allow_broad:
            raise WatchlistError(
                self.path,
                f"range {text.strip()} is broader than /{shortest}",
                line=line,
                entry=entry,
                expected=f"a prefix of /{shortest} or longer, or allow_broad on this range",
            )
        return version, value, prefix

    def _when(
        self, value: Any, key: str, line: int | None, entry: str | None, *, last: bool
    ) -> int:
        """A window bound in microseconds; a date ``valid_to`` is the last microsecond of it."""
        memo = (value, last) if isinstance(value, str) else None
        if memo is not None and memo in self._dates:
            return self._dates[memo]
        moment: dt.datetime | None = None
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time(), dt.UTC)
            if last:
                moment += dt.timedelta(days=1, microseconds=-1)
        elif isinstance(value, str):
            text = value.strip()
            try:
                if len(text) == 10:
                    return self._when(dt.date.fromisoformat(text), key, line, entry, last=last)
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            zone = " without a zone" if moment is not None else ""
            raise WatchlistError(
                self.path, f"{key} is {value!r}{zone}", line=line, entry=entry, expected=_DATE_HELP
            )
        result = micros(moment.astimezone(dt.UTC))
        if memo is not None:
            self._dates[memo] = result
        return result

    def build(self, *, check_duplicates: bool = True) -> RangeTable:
        value = self._value
        table = RangeTable(
            version=np.array(self._version, dtype=np.uint8),
            hi=np.array([v >> 64 for v in value], dtype=np.uint64),
            lo=np.array([v & 0xFFFFFFFFFFFFFFFF for v in value], dtype=np.uint64),
            prefix=np.array(self._prefix, dtype=np.uint8),
            valid_from=np.array(self._from, dtype=np.int64),
            valid_to=np.array(self._to, dtype=np.int64),
            notes=self.notes,
            sources=self.sources,
            lines=self.lines,
        )
        if check_duplicates:
            _no_duplicates(self.path, table)
        return table


def _no_duplicates(path: Path, table: RangeTable) -> None:
    """The same range with the same window twice is a mistake (two windows are not)."""
    if len(table) < 2:
        return
    keys = (table.valid_to, table.valid_from, table.prefix, table.lo, table.hi, table.version)
    order = np.lexsort(keys)
    same = np.ones(len(order) - 1, dtype=bool)
    for column in keys:
        ordered = column[order]
        same &= ordered[1:] == ordered[:-1]
    if not same.any():
        return
    pairs = [(int(order[i]), int(order[i + 1])) for i in np.flatnonzero(same)]
    first, second = min(pairs, key=lambda p: max(p))
    first, second = min(first, second), max(first, second)
    raise WatchlistError(
        path,
        f"duplicate range {table.network(second)} (first on line {table.lines[first]})",
        line=table.lines[second],
        expected="each range once (or once per validity window)",
    )
