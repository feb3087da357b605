"""The CSV catalog form, ``watchlists/endpoints/NAME.csv``: what importers write, for millions
of rows.

Columns (DESIGN.md): ``name,category,coin,address,host,port,valid_from,valid_to,source``; a
header row names them, in any order; ``name``, ``category`` and one of ``address``/``host``
are required, unknown columns are refused. Each row is one address (IP or CIDR) *or* one host
(a DNS name, or ``*.example.org`` for every name below it), one port (empty: any) and one
validity window (``YYYY-MM-DD``, a date ``valid_to`` meaning its whole day, or ISO-8601
times with a zone; empty: unbounded), so one endpoint name has as many rows as it has
intervals; its category and coin are the same on all of them. The CSV is read as the
watchlist CSV is (``csvcolumns.py``: RFC 4180, BOM, CRLF, leading ``#`` provenance lines
and blank lines skipped, errors at the line where the row starts) and CIDRs and windows are
parsed by ``RangeBuilder``, the one parser of every watchlist form.

Linear and columnar: every column is checked once per distinct value (a million rows repeat
a few categories, ports and dates, and relays' addresses), addresses in ``RangeBuilder``'s
tight loop; a 1,000,000-row catalog loads in a few seconds (``benchmarks/catalog.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import NoReturn

import numpy as np

from chainwatch.errors import WatchlistError
from chainwatch.watchlists.builder import RangeBuilder
from chainwatch.watchlists.catalog import HOST, HOST_HELP, Catalog, Endpoint, endpoint_kind
from chainwatch.watchlists.csvcolumns import Column, read_columns
from chainwatch.watchlists.endpoint_rows import ANY_PORT, EndpointRows
from chainwatch.watchlists.ranges import NO_END, NO_START
from chainwatch.watchlists.tomlfile import read_text

COLUMNS = (
    "name",
    "category",
    "coin",
    "address",
    "host",
    "port",
    "valid_from",
    "valid_to",
    "source",
)


def load_catalog_csv(path: Path) -> Catalog:
    """One CSV catalog: its endpoints (by name, first-seen order) and its rows."""
    raw, text = read_text(path, bom=True)
    cols, line_of = read_columns(path, raw, text, COLUMNS, ("name", "category"))
    n = len(line_of)
    if not n:
        raise WatchlistError(
            path, "no rows", expected="one row per address or host after the header"
        )
    blank = Column(np.zeros(n, np.int64), [""])

    def fail(row: int, problem: str, expected: str | None = None) -> NoReturn:
        raise WatchlistError(path, problem, line=int(line_of[row]), expected=expected)

    # Name, category and coin: one check per distinct triple; one kind per name.
    name, category, coin = cols["name"], cols["category"], cols.get("coin", blank)
    width_c, width_k = len(category.values), len(coin.values)
    key = (name.codes * width_c + category.codes) * width_k + coin.codes
    triples, first_row = np.unique(key, return_index=True)
    kinds: dict[str, tuple[int, str, str | None]] = {}  # name -> first row, category, coin
    for triple, row in sorted(
        zip(triples.tolist(), first_row.tolist(), strict=True), key=lambda t: t[1]
    ):
        label = name.values[triple // (width_c * width_k)]
        if not label.strip():
            fail(row, "name is empty", "an endpoint name")

        def bad(problem: str, expected: str, row: int = row) -> NoReturn:
            fail(row, problem, expected)

        stated = (category.values[triple // width_k % width_c], coin.values[triple % width_k])
        kind = endpoint_kind(stated[0].strip(), stated[1].strip(), bad)
        if label in kinds:
            before = kinds[label]
            fail(
                row,
                f"endpoint {label!r} is {stated[0]!r} with coin {stated[1] or None!r} here but "
                f"{before[1]!r} with coin {before[2]!r} on line {line_of[before[0]]}",
                "one category and coin per endpoint name",
            )
        kinds[label] = (row, *kind)
    order = np.zeros(len(name.values), np.int64)
    order[[name.codes[row] for row, _, _ in kinds.values()]] = np.arange(len(kinds))
    endpoint = order[name.codes]

    # Address or host, exactly one per row.
    address, host = cols.get("address", blank), cols.get("host", blank)
    address_blank = np.array([not v.strip() for v in address.values], bool)
    has_address, has_host = ~address_blank[address.codes], ~host.empty()
    both = np.flatnonzero(has_address == has_host)
    if len(both):
        row = int(both[0])
        fail(
            row,
            "both address and host" if has_address[row] else "no address or host",
            "an address (IP or CIDR) or a host, one per row",
        )
    # Each distinct address parsed once, by the one CIDR parser, then spread to its rows.
    used = np.flatnonzero(~address_blank)
    builder = RangeBuilder(path)
    builder.extend(
        [address.values[i] for i in used.tolist()],
        line_of[address.first_rows()[used]].tolist(),
    )
    table = builder.build(check_duplicates=False)
    at = np.full(len(address.values), 0, np.int64)
    at[used] = np.arange(len(used))
    spread = at[address.codes]
    version = np.zeros(n, np.uint8)
    hi, lo = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    prefix = np.zeros(n, np.uint8)
    if len(used):
        rows_at = np.flatnonzero(has_address)
        which = spread[rows_at]
        version[rows_at], prefix[rows_at] = table.version[which], table.prefix[which]
        hi[rows_at], lo[rows_at] = table.hi[which], table.lo[which]
    host_first = host.first_rows()
    for code, pattern in enumerate(host.values):
        if pattern.strip() and not HOST.match(pattern.strip()):
            fail(int(host_first[code]), f"bad host name {pattern!r}", HOST_HELP)
    host_code = np.where(has_host, host.codes, -1)

    # Ports and windows, once per distinct value.
    port = cols.get("port", blank)
    port_first = port.first_rows()
    port_value = np.zeros(len(port.values), np.int64)
    for code, cell in enumerate(port.values):
        value = cell.strip()
        if value and not (value.isdigit() and 0 < int(value) < 65536):
            fail(int(port_first[code]), f"port is {cell!r}", "a port 1-65535, or empty for any")
        port_value[code] = int(value) if value else ANY_PORT
    start = _bounds(builder, cols.get("valid_from", blank), line_of, last=False)
    end = _bounds(builder, cols.get("valid_to", blank), line_of, last=True)
    backwards = np.flatnonzero(end < start)
    if len(backwards):
        row = int(backwards[0])
        fail(
            row,
            f"valid_to {_cell(cols, 'valid_to', row)} is before valid_from "
            f"{_cell(cols, 'valid_from', row)}",
            "valid_from on or before valid_to",
        )
    source = cols.get("source", blank)
    named = ~np.array([not v.strip() for v in source.values], bool)
    rows = EndpointRows(
        endpoint=endpoint.astype(np.int32),
        version=version,
        hi=hi,
        lo=lo,
        prefix=prefix,
        host=host_code.astype(np.int32),
        hosts=[p.strip().lower() for p in host.values],
        port=port_value[port.codes].astype(np.int32),
        valid_from=start,
        valid_to=end,
        line=line_of,
        source=np.where(named[source.codes], source.codes, -1).astype(np.int32),
        sources=source.values,
    )
    return Catalog(
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        endpoints=_endpoints(path.stem, kinds, rows),
        rows=rows,
    )


def _cell(cols: dict[str, Column], name: str, row: int) -> str:
    column = cols[name]
    return column.values[int(column.codes[row])]


def _bounds(builder: RangeBuilder, column: Column, lines: np.ndarray, *, last: bool) -> np.ndarray:
    """Window bounds (microseconds) of every row, each distinct text converted once by
    ``RangeBuilder``'s own date parsing (same forms, same messages)."""
    key = "valid_to" if last else "valid_from"
    first = lines[column.first_rows()].tolist()
    converted = builder._bounds(column.values, key, first, [None] * len(first), last=last)
    bounds: np.ndarray = np.array(converted, np.int64)[column.codes]
    return bounds


def _endpoints(
    catalog: str, kinds: dict[str, tuple[int, str, str | None]], rows: EndpointRows
) -> tuple[Endpoint, ...]:
    """One ``Endpoint`` per name: its host patterns and the span of its rows' windows."""
    count = len(kinds)
    low = np.full(count, NO_END, np.int64)
    high = np.full(count, NO_START, np.int64)
    np.minimum.at(low, rows.endpoint, rows.valid_from)
    np.maximum.at(high, rows.endpoint, rows.valid_to)
    hosts: list[dict[str, None]] = [{} for _ in range(count)]
    for row in np.flatnonzero(rows.host >= 0).tolist():
        hosts[int(rows.endpoint[row])][rows.hosts[int(rows.host[row])]] = None

    def days(values: np.ndarray, open_end: int) -> list[dt.date | None]:
        dates = values.astype("datetime64[us]").astype("datetime64[D]").tolist()
        return [None if v == open_end else d for v, d in zip(values.tolist(), dates, strict=True)]

    first_days, last_days = days(low, NO_START), days(high, NO_END)

    endpoints = []
    for index, (name, (row, category, coin)) in enumerate(kinds.items()):
        source = int(rows.source[row])
        endpoints.append(
            Endpoint(
                name=name,
                category=category,
                catalog=catalog,
                hosts=tuple(hosts[index]),
                valid_from=first_days[index],
                valid_to=last_days[index],
                line=int(rows.line[row]),
                coin=coin,
                source=None if source < 0 else rows.sources[source],
            )
        )
    return tuple(endpoints)
