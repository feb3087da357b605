"""Vectorised matching of many addresses against compiled watchlist ranges.

A set of watchlists compiles once into sorted, disjoint integer intervals per address family
(IPv4 as ``uint64``, IPv6 as 16-byte big-endian ``S16`` strings, which numpy orders bytewise).
Each interval carries the *most specific* range covering it: CIDR blocks are either disjoint
or nested, so "most specific" is well defined; when two watchlists list the very same block,
the first watchlist by name wins. Matching an array is then one ``numpy.searchsorted``.

Address parsing is vectorised too: IPv4 text is split and range-checked by pyarrow compute;
IPv6 text (rare in flow data) is parsed once per distinct value by ``ipaddress``.
"""

from __future__ import annotations

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
    """Parse an array of address strings (pyarrow array, list or numpy array) at once."""
    text = pc.utf8_trim_whitespace(_as_string_array(values))
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
        v4[v4_rows] = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
        version[v4_rows] = 4

    has_colon = pc.fill_null(pc.match_substring(text, ":"), False)
    v6_rows = np.flatnonzero(has_colon.to_numpy(zero_copy_only=False))
    if len(v6_rows):
        encoded = pc.dictionary_encode(text.filter(has_colon))
        packed: list[bytes | None] = []
        for value in encoded.dictionary.to_pylist():
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                packed.append(None)
                continue
            packed.append(address.packed if address.version == 6 else None)
        ok = np.array([p is not None for p in packed], dtype=bool)
        table = np.array([p or b"" for p in packed], dtype="S16")
        indices = encoded.indices.to_numpy()
        good = ok[indices]
        rows = v6_rows[good]
        v6[rows] = table[indices[good]]
        version[rows] = 6
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
        return self.matcher.range_watchlist_names()[self.range_index]

    def cidrs(self) -> np.ndarray:
        """Matching CIDR per address (None where unmatched), as an object array."""
        return self.matcher.range_cidrs()[self.range_index]


class _Family:
    """Disjoint intervals of one address family: ``bounds[i]`` starts segment i."""

    def __init__(self, bounds: np.ndarray, labels: np.ndarray) -> None:
        self.bounds = bounds
        self.labels = labels

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        if len(self.bounds) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        position = np.searchsorted(self.bounds, keys, side="right") - 1
        return np.where(position >= 0, self.labels[np.maximum(position, 0)], -1)


def _compile(intervals: list[tuple[int, int, int, int]], version: int) -> _Family:
    """intervals: (start, end inclusive, prefix length, range index), any order."""
    if version == 4:
        encode = np.uint64
        dtype: Any = np.uint64
    else:
        def encode(value: int) -> bytes:  # type: ignore[misc]
            return value.to_bytes(16, "big")

        dtype = "S16"
    if not intervals:
        return _Family(np.array([], dtype=dtype), np.array([], dtype=np.int64))
    top = (1 << 32) - 1 if version == 4 else _V6_MAX
    points = {start for start, _, _, _ in intervals}
    points.update(end + 1 for _, end, _, _ in intervals if end < top)
    points.add(0)
    bounds = np.array(sorted(encode(p) for p in points), dtype=dtype)
    labels = np.full(len(bounds), -1, dtype=np.int64)
    # Paint broad ranges first so nested (more specific) ones overwrite them; among identical
    # blocks the lowest range index is painted last and wins.
    for start, end, _, index in sorted(intervals, key=lambda t: (t[2], -t[3])):
        lo = int(np.searchsorted(bounds, encode(start), side="left"))
        hi = len(bounds) if end >= top else int(np.searchsorted(bounds, encode(end + 1), side="left"))
        labels[lo:hi] = index
    return _Family(bounds, labels)


class RangeMatcher:
    """Compiled watchlists. ``ranges[i]`` is ``(watchlist name, Range)``."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        ordered = sorted(watchlists, key=lambda w: w.name)
        self.ranges: list[tuple[str, Range]] = [(w.name, r) for w in ordered for r in w.ranges]
        families: dict[int, list[tuple[int, int, int, int]]] = {4: [], 6: []}
        for index, (_, item) in enumerate(self.ranges):
            network = item.network
            families[network.version].append(
                (int(network.network_address), int(network.broadcast_address), network.prefixlen, index)
            )
        self._v4 = _compile(families[4], 4)
        self._v6 = _compile(families[6], 6)
        self._names = np.array([name for name, _ in self.ranges] + [None], dtype=object)
        self._cidrs = np.array([r.cidr for _, r in self.ranges] + [None], dtype=object)

    def __len__(self) -> int:
        return len(self.ranges)

    def range_watchlist_names(self) -> np.ndarray:
        """Watchlist name per range, with a trailing None so index -1 maps to None."""
        return self._names

    def range_cidrs(self) -> np.ndarray:
        return self._cidrs

    def match_parsed(self, parsed: ParsedIps) -> MatchResult:
        result = np.full(len(parsed), -1, dtype=np.int64)
        rows4 = np.flatnonzero(parsed.version == 4)
        if len(rows4):
            result[rows4] = self._v4.lookup(parsed.v4[rows4])
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
            return MatchResult(self._v4.lookup(keys), self)
        keys = np.asarray(values, dtype="S16")
        return MatchResult(self._v6.lookup(keys), self)
