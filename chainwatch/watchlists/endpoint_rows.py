"""Endpoint catalogs as rows: one address, CIDR or host pattern, one port (or any) and one
validity window per row, held as numpy columns.

This is the form the classifier compiles (``chainwatch.classify``), whatever the catalog file
was: a CSV catalog's rows are its lines (one endpoint name may have many rows, one per
interval), a TOML ``[[endpoints]]`` entry becomes one row per address or host and port. Rows
are in priority order (catalogs in load order, rows in file order): the first row that fits
a record wins. A million rows are a few dozen MB of columns; host names and sources are kept
once each, by code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

import numpy as np

from chainwatch.watchlists.ranges import NO_END, NO_START, micros

if TYPE_CHECKING:
    from chainwatch.watchlists.catalog import Endpoint

#: ``port`` of a row that holds on any port.
ANY_PORT = -1
_LOW64 = (1 << 64) - 1


@dataclass(frozen=True, eq=False)
class EndpointRows:
    """Catalog rows as columns, in priority order.

    Attributes:
        endpoint: int32, the row's endpoint (an index into the endpoints it goes with).
        version: uint8, 4 or 6 for an address row, 0 for a host row.
        hi, lo: uint64, the first address (IPv4 in ``lo``); prefix: uint8.
        host: int32 code into ``hosts`` (-1: an address row); ``hosts`` holds each host
            pattern once: a DNS name, or ``*.suffix`` for the names strictly below suffix.
        port: int32, the remote port, ``ANY_PORT`` for any.
        valid_from, valid_to: int64 microseconds, inclusive (``NO_START``/``NO_END``: open).
        line: int64, the row's line in its file (0: unknown).
        source: int32 code into ``sources`` (-1: none).
    """

    endpoint: np.ndarray
    version: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    prefix: np.ndarray
    host: np.ndarray
    hosts: Sequence[str]
    port: np.ndarray
    valid_from: np.ndarray
    valid_to: np.ndarray
    line: np.ndarray
    source: np.ndarray
    sources: Sequence[str]

    def __len__(self) -> int:
        return len(self.endpoint)


def concat(parts: Sequence[tuple[EndpointRows, int]]) -> EndpointRows:
    """Rows of several catalogs, in the order given, each with the index of its catalog's
    first endpoint among all (endpoint, host and source codes re-based)."""
    arrays: dict[str, list[np.ndarray]] = {
        k: [] for k in ("endpoint", "version", "hi", "lo", "prefix", "port")
    }
    arrays.update(valid_from=[], valid_to=[], line=[], host=[], source=[])
    hosts: list[str] = []
    sources: list[str] = []
    for part, offset in parts:
        arrays["endpoint"].append(part.endpoint.astype(np.int64) + offset)
        for key in ("version", "hi", "lo", "prefix", "port"):
            arrays[key].append(getattr(part, key))
        for key in ("valid_from", "valid_to", "line"):
            arrays[key].append(getattr(part, key))
        arrays["host"].append(np.where(part.host >= 0, part.host + len(hosts), -1))
        arrays["source"].append(np.where(part.source >= 0, part.source + len(sources), -1))
        hosts.extend(part.hosts)
        sources.extend(part.sources)
    dtypes = {
        "endpoint": np.int32,
        "version": np.uint8,
        "hi": np.uint64,
        "lo": np.uint64,
        "prefix": np.uint8,
        "port": np.int32,
        "valid_from": np.int64,
        "valid_to": np.int64,
        "line": np.int64,
        "host": np.int32,
        "source": np.int32,
    }
    joined = {
        k: (np.concatenate(v) if v else np.zeros(0)).astype(dtypes[k]) for k, v in arrays.items()
    }
    return EndpointRows(hosts=hosts, sources=sources, **joined)


def _window(start: dt.date | None, end: dt.date | None) -> tuple[int, int]:
    first = NO_START if start is None else micros(dt.datetime.combine(start, dt.time(), dt.UTC))
    last = (
        NO_END
        if end is None
        else micros(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)) - 1
    )
    return first, last


def rows_of(endpoints: Sequence[Endpoint]) -> EndpointRows:
    """The rows of endpoints given by their fields (TOML entries, tests): every network and
    host, each on every port (any port when the endpoint lists none), within the endpoint's
    window. ``endpoint`` indexes ``endpoints``."""
    columns: dict[str, list[int]] = {
        k: []
        for k in ("endpoint", "version", "hi", "lo", "prefix", "host", "port", "from", "to", "line")
    }
    hosts: dict[str, int] = {}
    sources: dict[str, int] = {}
    source_codes: list[int] = []
    for index, endpoint in enumerate(endpoints):
        if not endpoint.networks and not endpoint.hosts:
            raise ValueError(
                f"endpoint {endpoint.name!r} has no addresses or hosts of its own: a CSV "
                "catalog's endpoints classify with their rows (WatchlistSet.endpoints)"
            )
        start, end = _window(endpoint.valid_from, endpoint.valid_to)
        ports = sorted(endpoint.ports) or [ANY_PORT]
        targets: list[tuple[int, int, int, int]] = []  # version, value, prefix, host code
        for network in endpoint.networks:
            value = int(network.network_address)
            targets.append((network.version, value, network.prefixlen, -1))
        for name in endpoint.hosts:
            name = name.strip().lower().rstrip(".")
            targets.append((0, 0, 0, hosts.setdefault(name, len(hosts))))
        code = -1 if endpoint.source is None else sources.setdefault(endpoint.source, len(sources))
        for version, value, prefix, host in targets:
            for port in ports:
                row = (index, version, value >> 64, value & _LOW64, prefix, host, port, start, end)
                for key, item in zip(columns, row, strict=False):
                    columns[key].append(item)
                columns["line"].append(endpoint.line or 0)
                source_codes.append(code)
    return EndpointRows(
        endpoint=np.array(columns["endpoint"], np.int32),
        version=np.array(columns["version"], np.uint8),
        hi=np.array(columns["hi"], np.uint64),
        lo=np.array(columns["lo"], np.uint64),
        prefix=np.array(columns["prefix"], np.uint8),
        host=np.array(columns["host"], np.int32),
        hosts=list(hosts),
        port=np.array(columns["port"], np.int32),
        valid_from=np.array(columns["from"], np.int64),
        valid_to=np.array(columns["to"], np.int64),
        line=np.array(columns["line"], np.int64),
        source=np.array(source_codes, np.int32),
        sources=list(sources),
    )


class Endpoints(Sequence["Endpoint"]):
    """Endpoints with their rows (``WatchlistSet.endpoints``): what the classifier compiles."""

    def __init__(self, endpoints: Sequence[Endpoint], rows: EndpointRows) -> None:
        self._endpoints = tuple(endpoints)
        self.rows = rows

    def __len__(self) -> int:
        return len(self._endpoints)

    @overload
    def __getitem__(self, index: int) -> Endpoint: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Endpoint]: ...
    def __getitem__(self, index: int | slice) -> Endpoint | Sequence[Endpoint]:
        return self._endpoints[index]

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self._endpoints)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


def rows_for(endpoints: Sequence[Endpoint]) -> EndpointRows:
    """The rows of ``endpoints``: those they carry, or made from their fields."""
    if isinstance(endpoints, Endpoints):
        return endpoints.rows
    return rows_of(endpoints)
