"""Vectorised matching of many (address, time) pairs against compiled watchlist ranges.

A set of watchlists compiles once into disjoint segments per address family
(``segments.py``); each segment knows the ranges covering it, most specific first. A record
matches the most specific range that contains its address *and* whose validity window
contains the record's time; ranges without a window hold at every time. When two watchlists
list the very same block with the same window, the first watchlist by name wins. Matching a
batch is one ``numpy.searchsorted`` plus, only when some range has a window, one vectorised
step per nesting level (a handful) to skip ranges outside their window.

Times are microseconds since the epoch (pyarrow timestamps, numpy ``datetime64`` or Python
datetimes are converted); a record without a time (null, NaT) matches undated ranges only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch.watchlists.addresses import ParsedIps, parse_ips
from chainwatch.watchlists.loader import Watchlist
from chainwatch.watchlists.ranges import NO_END, NO_START, micros
from chainwatch.watchlists.segments import Segments

__all__ = ["MatchResult", "ParsedIps", "RangeMatcher", "parse_ips", "record_times"]

#: A record whose time is unknown.
NO_TIME = NO_START


def record_times(times: Any, count: int) -> np.ndarray:
    """Record times as int64 microseconds (``NO_TIME`` where unknown), from a pyarrow
    timestamp array, a numpy ``datetime64`` or int64 (microseconds) array, or datetimes."""
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks()
    if isinstance(times, pa.Array):
        as_us = pc.cast(times, pa.timestamp("us", tz=getattr(times.type, "tz", None)))
        values = pc.fill_null(pc.cast(as_us, pa.int64()), NO_TIME)
        result: np.ndarray = values.to_numpy(zero_copy_only=False).astype(np.int64)
    elif isinstance(times, np.ndarray) and np.issubdtype(times.dtype, np.datetime64):
        result = times.astype("datetime64[us]").view(np.int64)
    elif isinstance(times, np.ndarray):
        result = times.astype(np.int64)
    else:
        result = np.array(
            [NO_TIME if t is None else micros(_aware(t)) for t in times], dtype=np.int64
        )
    if len(result) != count:
        raise ValueError(f"{len(result)} times for {count} addresses")
    return result


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("record times must be timezone-aware")
    return moment


@dataclass(frozen=True)
class MatchResult:
    """Per record: index of the matching range (see ``RangeMatcher``), or -1."""

    range_index: np.ndarray
    matcher: RangeMatcher

    @property
    def matched(self) -> np.ndarray:
        return self.range_index >= 0

    def watchlist_names(self) -> np.ndarray:
        """Watchlist name per record (None where unmatched), as an object array."""
        names: np.ndarray = self.matcher.range_watchlist_names()[self.range_index]
        return names

    def cidrs(self) -> np.ndarray:
        """Matching CIDR per record (None where unmatched), as an object array."""
        return self.matcher.cidrs_of(self.range_index)


class RangeMatcher:
    """Compiled watchlists. Ranges are numbered across the watchlists, ordered by name."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        ordered = sorted(watchlists, key=lambda w: w.name)
        tables = [w.table for w in ordered]

        def joined(column: str, dtype: Any) -> np.ndarray:
            parts = [getattr(t, column) for t in tables]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        version = joined("version", np.uint8)
        hi, lo = joined("hi", np.uint64), joined("lo", np.uint64)
        prefix = joined("prefix", np.uint8)
        self._from = joined("valid_from", np.int64)
        self._to = joined("valid_to", np.int64)
        self._undated = (self._from == NO_START) & (self._to == NO_END)
        self._any_dated = not bool(self._undated.all())
        self._count = len(version)
        self._names = np.array(
            [w.name for w in ordered for _ in range(len(w.table))] + [None], dtype=object
        )
        self._tables = tables
        self._offsets = np.cumsum([0] + [len(t) for t in tables])
        self._cidr_text: dict[int, str] = {}
        self._families = {}
        for family in (4, 6):
            rows = np.flatnonzero(version == family)
            self._families[family] = Segments(family, hi[rows], lo[rows], prefix[rows], rows)

    def __len__(self) -> int:
        return self._count

    def range_watchlist_names(self) -> np.ndarray:
        """Watchlist name per range, with a trailing None so index -1 maps to None."""
        return self._names

    def cidrs_of(self, indexes: np.ndarray) -> np.ndarray:
        """CIDR text of each range index (None for -1), made once per distinct range."""
        distinct, inverse = np.unique(np.asarray(indexes, dtype=np.int64), return_inverse=True)
        texts = np.array([self._cidr(int(i)) for i in distinct], dtype=object)
        found: np.ndarray = texts[inverse.reshape(-1)] if len(distinct) else texts
        return found

    def _cidr(self, index: int) -> str | None:
        if index < 0:
            return None
        text = self._cidr_text.get(index)
        if text is None:
            which = int(np.searchsorted(self._offsets, index, side="right")) - 1
            row = index - int(self._offsets[which])
            text = self._cidr_text[index] = self._tables[which].cidr(row)
        return text

    def _lookup(self, version: int, keys: np.ndarray, times: np.ndarray | None) -> np.ndarray:
        family = self._families[version]
        segment = family.segment(keys)
        result = family.covering(segment, 0)
        if times is None or not self._any_dated:
            return result
        # Walk down the covering ranges of each record until one holds at the record's time.
        known = times != NO_TIME
        pending = np.flatnonzero(result >= 0)
        for depth in range(family.depth):
            if not len(pending):
                break
            candidate = family.covering(segment[pending], depth)
            t = times[pending]
            holds = (candidate >= 0) & (
                self._undated[candidate]
                | (known[pending] & (self._from[candidate] <= t) & (t <= self._to[candidate]))
            )
            result[pending] = np.where(holds, candidate, -1)
            pending = pending[~holds & (candidate >= 0)]
        return result

    def _run(self, parsed: ParsedIps, times: np.ndarray | None) -> MatchResult:
        result = np.full(len(parsed), -1, dtype=np.int64)
        for version, keys in ((4, parsed.v4), (6, parsed.v6)):
            rows = np.flatnonzero(parsed.version == version)
            if len(rows):
                k = keys[rows].astype(np.uint32) if version == 4 else keys[rows]
                result[rows] = self._lookup(version, k, None if times is None else times[rows])
        return MatchResult(result, self)

    def match_parsed(self, parsed: ParsedIps, times: Any) -> MatchResult:
        """Match parsed addresses, each at its record's time (see ``record_times``)."""
        return self._run(parsed, record_times(times, len(parsed)))

    def match(self, addresses: Any, times: Any) -> MatchResult:
        """Match address strings (pyarrow array, list or numpy array of str) at their times."""
        return self.match_parsed(parse_ips(addresses), times)

    def match_ints(
        self, values: np.ndarray | Sequence[int], times: Any, version: int = 4
    ) -> MatchResult:
        """Match numeric addresses (IPv4 as integers, IPv6 as 16-byte ``S16``) at their times."""
        return self._run(_numeric(values, version), record_times(times, len(values)))

    def covers_ints(self, values: np.ndarray | Sequence[int], version: int = 4) -> np.ndarray:
        """Whether each numeric address lies in some range at *some* time: a prefilter for
        readers that match exactly later, when the records' times are known."""
        covered: np.ndarray = self._run(_numeric(values, version), None).matched
        return covered


def _numeric(values: np.ndarray | Sequence[int], version: int) -> ParsedIps:
    n = len(values)
    if version == 4:
        v4 = np.asarray(values, dtype=np.uint64)
        if n and int(v4.max()) > 0xFFFFFFFF:
            raise ValueError("IPv4 values must be below 2**32")
        return ParsedIps(np.full(n, 4, np.uint8), v4, np.zeros(n, "S16"))
    v6 = np.asarray(values, dtype="S16")
    return ParsedIps(np.full(n, 6, np.uint8), np.zeros(n, np.uint64), v6)
