"""Vectorised matching of many addresses against compiled watchlist ranges.

A set of watchlists compiles once into sorted, disjoint integer intervals per address family
(IPv4 as ``uint64``, IPv6 as 16-byte big-endian ``S16`` strings, which numpy orders bytewise).
Each interval carries the *most specific* range covering it: CIDR blocks are either disjoint
or nested, so "most specific" is well defined; when two watchlists list the very same block,
the first watchlist by name wins. Matching an array is then one ``numpy.searchsorted``.

Address parsing is vectorised too, once per distinct text: IPv4 is split and range-checked by
pyarrow compute; IPv6 (rare in flow data) is parsed by ``ipaddress``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch.watchlists.loader import Range, Watchlist

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
_V6_MAX = (1 << 128) - 1


@dataclass(frozen=True)
class ParsedIps:
    """Parsed addresses: ``version`` is 4, 6, or 0 where the text was not an address (or null).

    ``v4`` holds the IPv4 value where version is 4; ``v6`` the 16 packed bytes where it is 6.
    """

    version: np.ndarray
    v4: np.ndarray
    v6: np.ndarray

    def __len__(self) -> int:
        return len(self.version)


def _as_string_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            values = values.cast(pa.string())
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = values.cast(pa.string())
        return values
    return pa.array(values, type=pa.string())


def parse_ips(values: Any) -> ParsedIps:
    """Parse an array of address strings (pyarrow array, list or numpy array) at once.

    Flow data repeats a few addresses many times, so each distinct text is parsed once and
    the results are spread back by dictionary index."""
    encoded = pc.dictionary_encode(pc.fill_null(_as_string_array(values), ""))
    distinct = _parse_distinct(pc.utf8_trim_whitespace(encoded.dictionary))
    index = encoded.indices.to_numpy(zero_copy_only=False)
    return ParsedIps(distinct.version[index], distinct.v4[index], distinct.v6[index])


def _parse_distinct(text: pa.Array) -> ParsedIps:
    n = len(text)
    version = np.zeros(n, dtype=np.uint8)
    v4 = np.zeros(n, dtype=np.uint64)
    v6 = np.zeros(n, dtype="S16")
    if n == 0:
        return ParsedIps(version, v4, v6)

    is_v4 = pc.fill_null(pc.match_substring_regex(text, _IPV4), False)
    v4_rows = np.flatnonzero(is_v4.to_numpy(zero_copy_only=False))
    if len(v4_rows):
        parts = pc.split_pattern(text.filter(is_v4), ".").flatten()
        octets = pc.cast(parts, pa.uint64()).to_numpy().reshape(-1, 4)
        v4[v4_rows] = (
            (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
        )
        version[v4_rows] = 4

    has_colon = pc.fill_null(pc.match_substring(text, ":"), False)
    v6_rows = np.flatnonzero(has_colon.to_numpy(zero_copy_only=False))
    for row, value in zip(v6_rows.tolist(), text.filter(has_colon).to_pylist(), strict=True):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            continue
        if address.version == 6:
            v6[row] = address.packed
            version[row] = 6
    return ParsedIps(version, v4, v6)


@dataclass(frozen=True)
class MatchResult:
    """Per address: index into ``RangeMatcher.ranges`` of the matching range, or -1."""

    range_index: np.ndarray
    matcher: RangeMatcher

    @property
    def matched(self) -> np.ndarray:
        return self.range_index >= 0

    def watchlist_names(self) -> np.ndarray:
        """Watchlist name per address (None where unmatched), as an object array."""
        names: np.ndarray = self.matcher.range_watchlist_names()[self.range_index]
        return names

    def cidrs(self) -> np.ndarray:
        """Matching CIDR per address (None where unmatched), as an object array."""
        cidrs: np.ndarray = self.matcher.range_cidrs()[self.range_index]
        return cidrs


_SPLIT = -2
#: IPv4 keys are first looked up in a table of 2**20 blocks (/20s, 4 MiB); only blocks that a
#: range boundary cuts need the binary search.
_BLOCK_BITS = 12


class _Family:
    """Disjoint intervals of one address family: ``bounds[i]`` starts segment i, whose most
    specific range is ``labels[i]`` (-1: none). ``bounds[0]`` is always the lowest address."""

    def __init__(self, bounds: np.ndarray, labels: np.ndarray, *, blocks: bool = False) -> None:
        self.bounds = bounds
        self.labels = labels
        self.table: np.ndarray | None = None
        if blocks and len(bounds):
            first = np.arange(1 << (32 - _BLOCK_BITS), dtype=np.uint32) << _BLOCK_BITS
            start_seg = np.searchsorted(bounds, first, side="right") - 1
            end_seg = np.searchsorted(bounds, first | ((1 << _BLOCK_BITS) - 1), side="right") - 1
            self.table = np.where(start_seg == end_seg, labels[start_seg], _SPLIT).astype(np.int32)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        if len(self.bounds) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        if self.table is None:
            return self.labels[np.searchsorted(self.bounds, keys, side="right") - 1]
        result = self.table[keys >> _BLOCK_BITS].astype(np.int64)
        split = np.flatnonzero(result == _SPLIT)
        if len(split):
            result[split] = self.labels[np.searchsorted(self.bounds, keys[split], side="right") - 1]
        found: np.ndarray = result
        return found


def _compile(intervals: list[tuple[int, int, int, int]], version: int) -> _Family:
    """intervals: (start, end inclusive, prefix length, range index), any order."""
    top = (1 << 32) - 1 if version == 4 else _V6_MAX
    width = 4 if version == 4 else 16
    dtype: Any = np.uint32 if version == 4 else "S16"

    def encode(values: list[int]) -> np.ndarray:
        if version == 4:
            return np.array(values, dtype=np.uint32)
        return np.array([v.to_bytes(width, "big") for v in values], dtype=dtype)

    if not intervals:
        return _Family(encode([]), np.array([], dtype=np.int64))
    # Paint broad ranges first so nested (more specific) ones overwrite them; among identical
    # blocks the lowest range index is painted last and wins.
    ordered = sorted(intervals, key=lambda t: (t[2], -t[3]))
    starts = [start for start, _, _, _ in ordered]
    after = [end + 1 for _, end, _, _ in ordered]
    bounds = np.unique(encode([0, *starts, *(a for a in after if a <= top)]))
    lows = np.searchsorted(bounds, encode(starts), side="left")
    highs = np.searchsorted(bounds, encode([min(a, top) for a in after]), side="left")
    # An interval reaching the very top of the space has no "after" bound: paint to the end.
    highs[np.array(after) > top] = len(bounds)
    labels = np.full(len(bounds), -1, dtype=np.int64)
    for lo, hi, (_, _, _, index) in zip(lows.tolist(), highs.tolist(), ordered, strict=True):
        labels[lo:hi] = index
    return _Family(bounds, labels, blocks=version == 4)


class RangeMatcher:
    """Compiled watchlists. ``ranges[i]`` is ``(watchlist name, Range)``."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        ordered = sorted(watchlists, key=lambda w: w.name)
        self.ranges: list[tuple[str, Range]] = [(w.name, r) for w in ordered for r in w.ranges]
        families: dict[int, list[tuple[int, int, int, int]]] = {4: [], 6: []}
        for index, (_, item) in enumerate(self.ranges):
            network = item.network
            start = int(network.network_address)
            # Arithmetic, because ipaddress's broadcast_address is slow over 100,000 ranges.
            end = start + (1 << (network.max_prefixlen - network.prefixlen)) - 1
            families[network.version].append((start, end, network.prefixlen, index))
        self._v4 = _compile(families[4], 4)
        self._v6 = _compile(families[6], 6)
        self._names = np.array([name for name, _ in self.ranges] + [None], dtype=object)

    def __len__(self) -> int:
        return len(self.ranges)

    def range_watchlist_names(self) -> np.ndarray:
        """Watchlist name per range, with a trailing None so index -1 maps to None."""
        return self._names

    @functools.cached_property
    def _cidrs(self) -> np.ndarray:
        return np.array([r.cidr for _, r in self.ranges] + [None], dtype=object)

    def range_cidrs(self) -> np.ndarray:
        """CIDR text per range, with a trailing None so index -1 maps to None."""
        return self._cidrs

    def match_parsed(self, parsed: ParsedIps) -> MatchResult:
        result = np.full(len(parsed), -1, dtype=np.int64)
        rows4 = np.flatnonzero(parsed.version == 4)
        if len(rows4):
            result[rows4] = self._v4.lookup(parsed.v4[rows4].astype(np.uint32))
        rows6 = np.flatnonzero(parsed.version == 6)
        if len(rows6):
            result[rows6] = self._v6.lookup(parsed.v6[rows6])
        return MatchResult(result, self)

    def match(self, addresses: Any) -> MatchResult:
        """Match address strings (pyarrow array, list or numpy array of str)."""
        return self.match_parsed(parse_ips(addresses))

    def match_ints(self, values: np.ndarray | Sequence[int], version: int = 4) -> MatchResult:
        """Match already-numeric addresses: IPv4 as integers, or IPv6 as 16-byte ``S16``."""
        if version == 4:
            keys = np.asarray(values, dtype=np.uint64)
            if len(keys) and int(keys.max()) > 0xFFFFFFFF:
                raise ValueError("IPv4 values must be below 2**32")
            return MatchResult(self._v4.lookup(keys.astype(np.uint32)), self)
        keys = np.asarray(values, dtype="S16")
        return MatchResult(self._v6.lookup(keys), self)
