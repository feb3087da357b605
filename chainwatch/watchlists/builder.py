"""Validating a file's ranges column by column into a ``RangeTable``: the one parser of every
watchlist form (TOML, text, CSV) and of catalog CIDRs.

CIDRs are parsed with ``socket.inet_pton`` (C) and integer arithmetic in one tight loop,
several times faster than ``ipaddress.ip_network`` over the same texts
(``benchmarks/watchlists.py``), with its rules: a dotted quad without leading zeros or an
IPv6 address, a decimal prefix within the family's width, no host bits set, and no prefix
shorter than ``MIN_PREFIX`` unless the range allows it. A row the loop refuses goes through
the careful path, which says exactly what is wrong and where. Window bounds are converted
once per distinct value (importers repeat a few dates over millions of rows).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from chainwatch.errors import WatchlistError
from chainwatch.watchlists.ranges import NO_END, NO_START, RangeTable, micros

#: Shortest prefixes accepted without ``allow_broad``.
MIN_PREFIX = {4: 8, 6: 16}
_LOW64 = (1 << 64) - 1
_DATE_HELP = 'a date "2017-01-31" or an ISO-8601 UTC time "2017-01-31T12:00:00Z"'
_CIDR_HELP = 'a network like "192.0.2.0/24" or "2001:db8::/32"'


class Numbered(Sequence[str | None]):
    """``ranges #1``, ``ranges #2``, ...: entry names made only when a message needs one."""

    def __init__(self, table: str, count: int) -> None:
        self.table, self.size = table, count

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not -self.size <= index < self.size:
            raise IndexError(index)
        return f"{self.table} #{index % self.size + 1}"


class RangeBuilder:
    """Collects one file's ranges, validating them as they come; ``build`` makes the table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._version: list[int] = []
        self._hi: list[int] = []
        self._lo: list[int] = []
        self._prefix: list[int] = []
        self._from: list[int] = []
        self._to: list[int] = []
        self.notes: list[str | None] = []
        self.sources: list[str | None] = []
        self.lines: list[int | None] = []
        self._entries: list[tuple[int, Sequence[str | None]]] = []  # (first row, names)

    def __len__(self) -> int:
        return len(self._version)

    def add(
        self,
        text: Any,
        *,
        line: int | None,
        entry: str | None = None,
        note: str | None = None,
        valid_from: Any = None,
        valid_to: Any = None,
        allow_broad: bool = False,
    ) -> None:
        """One range (see ``extend``)."""
        self.extend(
            [text],
            [line],
            entries=[entry],
            notes=[note],
            valid_from=[valid_from],
            valid_to=[valid_to],
            allow_broad=[allow_broad],
        )

    def extend(
        self,
        cidrs: Sequence[Any],
        lines: Sequence[int | None],
        *,
        entries: Sequence[str | None] | None = None,
        notes: Sequence[str | None] | None = None,
        sources: Sequence[str | None] | None = None,
        valid_from: Sequence[Any] | None = None,
        valid_to: Sequence[Any] | None = None,
        allow_broad: Sequence[bool] | None = None,
    ) -> None:
        """Validate and add ranges given as columns (None: the column is absent); empty
        strings and None are absent values. Raises ``WatchlistError`` naming file and line."""
        n = len(cidrs)
        entries = entries if entries is not None else [None] * n
        self._cidrs(cidrs, lines, entries, allow_broad)
        start = self._bounds(valid_from, "valid_from", lines, entries, last=False)
        end = self._bounds(valid_to, "valid_to", lines, entries, last=True)
        backwards = np.flatnonzero(np.array(end, np.int64) < np.array(start, np.int64))
        if len(backwards):
            i = int(backwards[0])
            assert valid_from is not None and valid_to is not None
            raise WatchlistError(
                self.path,
                f"valid_to {valid_to[i]} is before valid_from {valid_from[i]}",
                line=lines[i],
                entry=entries[i],
                expected="valid_from on or before valid_to",
            )
        self._from.extend(start)
        self._to.extend(end)
        self.notes.extend([v or None for v in notes] if notes is not None else [None] * n)
        self.sources.extend([v or None for v in sources] if sources is not None else [None] * n)
        self.lines.extend(lines)
        self._entries.append((len(self.lines) - n, entries))

    def _cidrs(
        self,
        texts: Sequence[Any],
        lines: Sequence[int | None],
        entries: Sequence[str | None],
        broad: Sequence[bool] | None,
    ) -> None:
        pton, from_bytes = socket.inet_pton, int.from_bytes
        af4, af6 = socket.AF_INET, socket.AF_INET6
        versions, his, los, prefixes = self._version, self._hi, self._lo, self._prefix
        for i, text in enumerate(texts):
            try:
                address, slash, length = text.partition("/")
                if ":" in address:
                    value, version, width, shortest = from_bytes(pton(af6, address)), 6, 128, 16
                else:
                    value, version, width, shortest = from_bytes(pton(af4, address)), 4, 32, 8
                if slash and not length.isdigit():
                    raise ValueError
                prefix = int(length) if slash else width
                if (
                    prefix > width
                    or value & ((1 << (width - prefix)) - 1)
                    or (prefix < shortest and not (broad and broad[i]))
                ):
                    raise ValueError
            except (AttributeError, OSError, ValueError):
                version, value, prefix = self._careful(
                    text, lines[i], entries[i], bool(broad and broad[i])
                )
            versions.append(version)
            his.append(value >> 64)
            los.append(value & _LOW64)
            prefixes.append(prefix)

    def _careful(
        self, text: Any, line: int | None, entry: str | None, allow_broad: bool
    ) -> tuple[int, int, int]:
        """One CIDR the fast loop refused: parsed if it is only padded, else explained."""
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
            family, width = (socket.AF_INET6, 128) if ":" in address else (socket.AF_INET, 32)
            value = int.from_bytes(socket.inet_pton(family, address))
            if slash and not length.isdigit():
                raise ValueError
            prefix = int(length) if slash else width
            if prefix > width:
                raise ValueError
        except (OSError, ValueError):
            raise WatchlistError(
                self.path,
                f"bad CIDR {text!r}: not an IPv4 or IPv6 network",
                line=line,
                entry=entry,
                expected=_CIDR_HELP,
            ) from None
        if value & ((1 << (width - prefix)) - 1):
            raise WatchlistError(
                self.path,
                f"bad CIDR {text!r}: host bits set",
                line=line,
                entry=entry,
                expected=_CIDR_HELP,
            )
        version = 6 if width == 128 else 4
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

    def _bounds(
        self,
        values: Sequence[Any] | None,
        key: str,
        lines: Sequence[int | None],
        entries: Sequence[str | None],
        *,
        last: bool,
    ) -> list[int]:
        unbounded = NO_END if last else NO_START
        if values is None:
            return [unbounded] * len(lines)
        converted: dict[Any, int] = {None: unbounded, "": unbounded}
        try:
            distinct = set(values)
        except TypeError:  # an unhashable TOML value (a list, a table): say which
            distinct = {v for v in values if isinstance(v, (str, dt.date))}
            for i, value in enumerate(values):
                if value not in distinct and value is not None:
                    _bad_bound(self.path, value, key, lines[i], entries[i])
        for value in distinct:
            if value not in converted:
                found = _bound(value, last=last)
                if found is None:
                    i = list(values).index(value)
                    _bad_bound(self.path, value, key, lines[i], entries[i])
                converted[value] = found
        return list(map(converted.__getitem__, values))

    def build(self, *, check_duplicates: bool = True) -> RangeTable:
        table = RangeTable(
            version=np.array(self._version, dtype=np.uint8),
            hi=np.array(self._hi, dtype=np.uint64),
            lo=np.array(self._lo, dtype=np.uint64),
            prefix=np.array(self._prefix, dtype=np.uint8),
            valid_from=np.array(self._from, dtype=np.int64),
            valid_to=np.array(self._to, dtype=np.int64),
            notes=self.notes,
            sources=self.sources,
            lines=self.lines,
        )
        if check_duplicates:
            _no_duplicates(self.path, table, self.entry)
        return table

    def entry(self, row: int) -> str | None:
        """The entry name of a row, for messages (TOML's ``ranges #N``)."""
        for first, names in reversed(self._entries):
            if row >= first:
                return names[row - first]
        return None


def _bound(value: Any, *, last: bool) -> int | None:
    """A window bound in microseconds (a date ``valid_to``: the last microsecond of that
    day), or None when the value is not a date or a time with a zone."""
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
                return _bound(dt.date.fromisoformat(text), last=last)
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment is None or moment.tzinfo is None:
        return None
    return micros(moment.astimezone(dt.UTC))


def _bad_bound(path: Path, value: Any, key: str, line: int | None, entry: str | None) -> NoReturn:
    naive = isinstance(value, dt.datetime) and value.tzinfo is None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            naive = dt.datetime.fromisoformat(value.strip()).tzinfo is None
    shown = value.isoformat() if isinstance(value, dt.date) else repr(value)
    zone = " without a zone" if naive else ""
    raise WatchlistError(
        path, f"{key} is {shown}{zone}", line=line, entry=entry, expected=_DATE_HELP
    )


def _no_duplicates(path: Path, table: RangeTable, entry: Callable[[int], str | None]) -> None:
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
    pairs = [sorted((int(order[i]), int(order[i + 1]))) for i in np.flatnonzero(same)]
    first, second = min(pairs, key=lambda p: p[1])
    raise WatchlistError(
        path,
        f"duplicate range {table.cidr(second)} (first on line {table.lines[first]})",
        line=table.lines[second],
        entry=entry(second),
        expected="each range once (or once per validity window)",
    )
