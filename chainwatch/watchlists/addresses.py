"""Parsing address text into numbers, vectorised, once per distinct text.

IPv4 is split and range-checked by pyarrow compute; IPv6 (rare in flow data) is parsed by
``ipaddress``. Flow data repeat a few addresses many times, so each distinct text is parsed
once and the results are spread back by dictionary index.

One address has one text (``canonical_ip``/``canonical_ips``): IPv6 compressed as RFC 5952
writes it (``2001:db8::1``, not ``2001:db8:0:0:0:0:0:1``), without a ``%zone`` (a zone names
an interface of the host that wrote the log, not part of the address), and an IPv4-mapped
IPv6 address (``::ffff:175.45.176.5``, as dual-stack sockets report IPv4 peers) as the IPv4
address it is: so it is matched, counted and stored as that IPv4 address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


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
        address = _address(value)
        if isinstance(address, ipaddress.IPv4Address):  # IPv4-mapped
            v4[row] = int(address)
            version[row] = 4
        elif address is not None:
            v6[row] = address.packed
            version[row] = 6
    return ParsedIps(version, v4, v6)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address some IPv6 text names (zone dropped, IPv4-mapped as IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def canonical_ip(text: str) -> str:
    """The one text of an address (see the module docstring); other text unchanged."""
    address = _address(text.strip()) if ":" in text else None
    return text if address is None else str(address)


def canonical_ips(values: pa.Array) -> pa.Array:
    """``canonical_ip`` of every string, computed once per distinct text holding a colon:
    IPv4 text (no colon) is left as it is, and a batch without IPv6 costs one scan."""
    has_colon = pc.fill_null(pc.match_substring(values, ":"), False)
    if not pc.any(has_colon).as_py():
        return values
    part = pc.dictionary_encode(values.filter(has_colon))
    canonical = pa.array([canonical_ip(v) for v in part.dictionary.to_pylist()], pa.string())
    return pc.replace_with_mask(values, has_colon, canonical.take(part.indices))
