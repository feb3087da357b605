"""The CSV catalog form, ``watchlists/endpoints/NAME.csv``: what importers write, for millions
of rows.

Columns (DESIGN.md): ``name,category,coin,address,host,port,valid_from,valid_to,source``; a
header row names them, in any order; ``name``, ``category`` and one of ``address``/``host``
are required, unknown columns are refused. Each row is one address (IP or CIDR) *or* one host
(a DNS name, or ``*.example.org`` for every name below it), one port (empty: any) and one
validity window (``YYYY-MM-DD``, a date ``valid_to`` meaning its whole day, or ISO-8601
times with a zone; empty: unbounded), so one endpoint name has as many rows as it has
intervals; its category and coin are the same on all of them. The CSV reading is the
watchlist CSV's (``csvlist.py``: RFC 4180 by the ``csv`` module, BOM, CRLF, leading ``#``
provenance lines skipped, blank lines skipped, errors at the line where the row starts) and
CIDRs and windows are parsed by ``RangeBuilder``, the one parser of every watchlist form.

Linear and columnar: every column is checked once per distinct value (a million rows repeat
a few categories, ports and dates), addresses in ``RangeBuilder``'s tight loop; a
1,000,000-row catalog loads in a few seconds (``benchmarks/catalog.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import numpy as np

from chainwatch.errors import WatchlistError
from chainwatch.watchlists.builder import RangeBuilder
from chainwatch.watchlists.catalog import HOST, HOST_HELP, Catalog, Endpoint, endpoint_kind
from chainwatch.watchlists.csvlist import _rows_with_lines, _skip_comments
from chainwatch.watchlists.endpoint_rows import ANY_PORT, EndpointRows
from chainwatch.watchlists.ranges import NO_END, NO_START, from_micros
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
K = TypeVar("K")


def read_rows(
    path: Path, text: str, columns: Sequence[str], required: Sequence[str]
) -> tuple[dict[str, list[str]], list[int]]:
    """The columns (by header name) of a CSV text and the line each row starts on."""
    skipped, text = _skip_comments(text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise WatchlistError(path, f"not CSV: {exc}", line=skipped + 1) from None
    expected = f"a header row of {','.join(columns)}"
    if header is None:
        raise WatchlistError(path, "empty file", expected=expected)
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in columns]
    missing = [name for name in required if name not in names]
    if unknown or missing or len(set(names)) != len(names):
        problem = (
            f"unknown column {unknown[0]!r}"
            if unknown
            else f"header has no {missing[0]} column"
            if missing
            else "a column is named twice"
        )
        raise WatchlistError(path, problem, line=skipped + 1, expected=expected)
    first = skipped + reader.line_num + 1
    try:
        rows = list(reader)
    except csv.Error:
        rows = []  # the slow pass says where
    if rows and skipped + reader.line_num - first + 1 == len(rows):
        lines = list(range(first, first + len(rows)))  # no line breaks inside quotes
    else:
        rows, found = _rows_with_lines(path, text, skipped)
        lines = [int(line or 0) for line in found]
    width = len(names)
    wrong = [i for i, row in enumerate(rows) if len(row) != width]
    if any(rows[i] for i in wrong):
        i = next(i for i in wrong if rows[i])
        raise WatchlistError(
            path,
            f"{len(rows[i])} fields",
            line=lines[i],
            expected=f"{width} fields as in the header ({','.join(names)})",
        )
    if wrong:  # blank lines
        keep = [i for i, row in enumerate(rows) if row]
        rows, lines = [rows[i] for i in keep], [lines[i] for i in keep]
    # One comprehension per column: zip(*rows) over a million rows is 20 times slower.
    return {name: [row[k] for row in rows] for k, name in enumerate(names)}, lines


def _codes(values: Sequence[K]) -> tuple[dict[K, int], np.ndarray]:
    """Each distinct value's code (in first-seen order) and every value's code."""
    distinct: dict[K, int] = {}
    for value in values:
        if value not in distinct:
            distinct[value] = len(distinct)
    return distinct, np.fromiter(map(distinct.__getitem__, values), np.int64, len(values))


def load_catalog_csv(path: Path) -> Catalog:
    """One CSV catalog: its endpoints (by name, first-seen order) and its rows."""
    raw, text = read_text(path, bom=True)
    cols, lines = read_rows(path, text, COLUMNS, ("name", "category"))
    n = len(lines)
    if not n:
        raise WatchlistError(
            path, "no rows", expected="one row per address or host after the header"
        )
    empty = [""] * n
    line_of = np.array(lines, np.int64)

    def fail(row: int, problem: str, expected: str | None = None) -> NoReturn:
        raise WatchlistError(path, problem, line=int(line_of[row]), expected=expected)

    # Name, category and coin: one check per distinct triple; one kind per name.
    names = cols["name"]
    triples, triple_of = _codes(
        list(zip(names, cols["category"], cols.get("coin", empty), strict=True))
    )
    first_row = np.full(len(triples), n, np.int64)
    np.minimum.at(first_row, triple_of, np.arange(n))
    kinds: dict[str, tuple[int, str, str | None]] = {}  # name -> first row, category, coin
    for (name, category, coin), row in sorted(
        zip(triples, first_row.tolist(), strict=True), key=lambda item: item[1]
    ):
        if not name.strip():
            fail(row, "name is empty", "an endpoint name")

        def bad(problem: str, expected: str, row: int = row) -> NoReturn:
            fail(row, problem, expected)

        kind = endpoint_kind(category.strip(), coin.strip(), bad)
        if name in kinds:
            before = kinds[name]
            fail(
                row,
                f"endpoint {name!r} is {category!r}/{coin or '-'!r} here but "
                f"{before[1]!r}/{before[2] or '-'!r} on line {line_of[before[0]]}",
                "one category and coin per endpoint name",
            )
        kinds[name] = (row, *kind)
    order = {name: index for index, name in enumerate(kinds)}
    endpoint = np.fromiter(map(order.__getitem__, names), np.int64, n)

    # Address or host, exactly one per row.
    addresses, hosts = cols.get("address", empty), cols.get("host", empty)
    has_address = np.fromiter(map(bool, addresses), bool, n)
    has_host = np.fromiter(map(bool, hosts), bool, n)
    both = np.flatnonzero(has_address == has_host)
    if len(both):
        row = int(both[0])
        fail(
            row,
            "both address and host" if has_address[row] else "no address or host",
            "an address (IP or CIDR) or a host, one per row",
        )
    at = np.flatnonzero(has_address)
    builder = RangeBuilder(path)
    builder.extend([addresses[i] for i in at.tolist()], line_of[at].tolist())
    table = builder.build(check_duplicates=False)
    version = np.zeros(n, np.uint8)
    hi, lo = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    prefix = np.zeros(n, np.uint8)
    version[at], hi[at], lo[at], prefix[at] = table.version, table.hi, table.lo, table.prefix
    patterns, host_of = _codes(hosts)
    for pattern, code in patterns.items():
        if pattern and not HOST.match(pattern.strip()):
            fail(int(np.argmax(host_of == code)), f"bad host name {pattern!r}", HOST_HELP)
    host_names = [p.strip().lower() for p in patterns]
    host_code = np.where(has_host, host_of, -1)

    # Ports and windows, once per distinct value.
    ports, port_of = _codes(cols.get("port", empty))
    port_value = np.zeros(len(ports), np.int64)
    for text_port, code in ports.items():
        value = text_port.strip()
        if value and not (value.isdigit() and 0 < int(value) < 65536):
            fail(
                int(np.argmax(port_of == code)),
                f"port is {text_port!r}",
                "a port 1-65535, or empty for any",
            )
        port_value[code] = int(value) if value else ANY_PORT
    bounds = builder._bounds  # RangeBuilder's own date parsing, messages and all
    start = np.array(
        bounds(cols.get("valid_from"), "valid_from", lines, [None] * n, last=False), np.int64
    )
    end = np.array(bounds(cols.get("valid_to"), "valid_to", lines, [None] * n, last=True), np.int64)
    backwards = np.flatnonzero(end < start)
    if len(backwards):
        row = int(backwards[0])
        fail(
            row,
            f"valid_to {cols['valid_to'][row]} is before valid_from {cols['valid_from'][row]}",
            "valid_from on or before valid_to",
        )
    sources, source_of = _codes(cols.get("source", empty))
    source_names = list(sources)
    named = np.fromiter(map(bool, source_names), bool, len(source_names))
    source_code = np.where(named[source_of], source_of, -1)

    rows = EndpointRows(
        endpoint=endpoint.astype(np.int32),
        version=version,
        hi=hi,
        lo=lo,
        prefix=prefix,
        host=host_code.astype(np.int32),
        hosts=host_names,
        port=port_value[port_of].astype(np.int32),
        valid_from=start,
        valid_to=end,
        line=line_of,
        source=source_code.astype(np.int32),
        sources=source_names,
    )
    return Catalog(
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        endpoints=_endpoints(path.stem, kinds, rows),
        rows=rows,
    )


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

    def day(value: int, open_end: int) -> dt.date | None:
        return None if value == open_end else from_micros(value).date()

    endpoints = []
    for index, (name, (row, category, coin)) in enumerate(kinds.items()):
        source = int(rows.source[row])
        endpoints.append(
            Endpoint(
                name=name,
                category=category,
                catalog=catalog,
                hosts=tuple(hosts[index]),
                valid_from=day(int(low[index]), NO_START),
                valid_to=day(int(high[index]), NO_END),
                line=int(rows.line[row]),
                coin=coin,
                source=None if source < 0 else rows.sources[source],
            )
        )
    return tuple(endpoints)
