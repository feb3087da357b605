"""``chainwatch catalog import``: the registry of catalog formats and the import itself.

``FORMATS`` is the one list of formats: the command's ``--help``, its usage error and the
README's examples (checked by the tests) all come from it. ``import_catalog`` checks the
options, streams the sources through the format's importer into
``WATCHLISTS/endpoints/NAME.csv`` (``output.write_csv``: provenance header, written to a
temporary file and renamed, so a failed import leaves the old catalog as it was) and returns
what it read and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from chainwatch.errors import UsageError
from chainwatch.imports.catalog_csv_import import csv_rows
from chainwatch.imports.entries import (
    CATALOG_HEADER,
    Importer,
    Options,
    Report,
    check_category,
    parse_when,
)
from chainwatch.imports.lists import hosts_rows, ipset_rows, list_rows
from chainwatch.imports.onionoo import onionoo_rows
from chainwatch.imports.output import NothingImported, SourceFile, write_csv
from chainwatch.imports.sources import iter_sources
from chainwatch.imports.tor import consensus_rows, exit_list_rows

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DEFAULT_GAP = 3 * 3600


@dataclass(frozen=True)
class Format:
    """A catalog format: its importer, its category when none is given (``None``: the
    category is required; ``""``: the rows carry their own) and one line of help."""

    importer: Importer
    category: str | None
    help: str


FORMATS: MappingProxyType[str, Format] = MappingProxyType(
    {
        "tor-consensus": Format(
            consensus_rows,
            "tor",
            "Tor consensuses and microdesc consensuses (CollecTor): each relay's address with "
            "its ORPort, DirPort and IPv6 ORPorts, from the valid-after of the first document "
            "listing it to the valid-until of the last",
        ),
        "tor-exit-list": Format(
            exit_list_rows,
            "tor",
            "TorDNSEL exit lists (CollecTor): each ExitAddress valid 24 h either side of each "
            "time it was seen, any port",
        ),
        "onionoo": Format(
            onionoo_rows,
            "tor",
            "an Onionoo details document (JSON): or_addresses, dir_address and exit_addresses "
            "from first_seen to last_seen",
        ),
        "ipset": Format(
            ipset_rows,
            None,
            "FireHOL ipset: one IP, CIDR or range per line, dated by its Source File Date",
        ),
        "netset": Format(ipset_rows, None, "FireHOL netset: read as ipset"),
        "hosts": Format(
            hosts_rows, None, "a hosts file (e.g. CoinBlockerLists): '0.0.0.0 HOST' -> host rows"
        ),
        "list": Format(list_rows, None, "one address, CIDR or host name per line, # comments"),
        "csv": Format(csv_rows, "", "catalog CSVs: merged, re-categorised or re-dated"),
    }
)


@dataclass(frozen=True)
class CatalogImport:
    """What an import wrote and read. ``entries`` counts distinct names (relays; the catalog
    itself for lists), ``addresses`` distinct addresses and hosts; ``skipped`` holds the first
    skipped lines as ``(file:line, why)`` and ``skipped_count`` all of them."""

    path: Path
    format: str
    category: str
    rows: int
    documents: int
    entries: int
    addresses: int
    span: tuple[str | None, str | None]
    sources: tuple[SourceFile, ...]
    skipped: tuple[tuple[str, str], ...]
    skipped_count: int
    replaced: bool


def _format(name: str) -> Format:
    found = FORMATS.get(name)
    if found is None:
        raise UsageError(f"unknown catalog format {name!r}; expected one of {', '.join(FORMATS)}")
    return found


def import_catalog(
    format_name: str,
    paths: Sequence[Path],
    name: str,
    watchlists: Path,
    *,
    category: str | None = None,
    coin: str | None = None,
    valid_from: str | None = None,
    valid_to: str | None = None,
    gap: int = DEFAULT_GAP,
) -> CatalogImport:
    """Import ``paths`` in ``format_name`` as ``watchlists/endpoints/NAME.csv``."""
    fmt = _format(format_name)
    if not _NAME.match(name):
        raise UsageError(
            f"--name {name!r}: expected letters, digits, '.', '_' or '-' (it names the file)"
        )
    if category is None:
        if fmt.category is None:
            raise UsageError(f"{format_name} needs --category (what the listed endpoints are)")
        category = fmt.category
    if category:
        check_category(category, coin)
    elif coin is not None:
        raise UsageError("--coin needs --category (the coin must agree with a category)")
    start = None if valid_from is None else parse_when(valid_from, "--valid-from")
    end = None if valid_to is None else parse_when(valid_to, "--valid-to")
    options = Options(
        category=category, name=name, coin=coin, valid_from=start, valid_to=end, gap=gap
    )
    if options.start is not None and options.end is not None and options.start > options.end:
        raise UsageError(f"--valid-from {start} is after --valid-to {end}")
    if gap <= 0:
        raise UsageError("--gap must be above zero")
    if not paths:
        raise UsageError("no PATH given: name the files, directories or archives to import")
    endpoints = watchlists / "endpoints"
    if (endpoints / f"{name}.toml").exists():
        raise UsageError(
            f"{endpoints / (name + '.toml')} already holds a catalog named {name!r}; "
            "choose another --name"
        )
    target = endpoints / f"{name}.csv"
    replaced = target.exists()
    report = Report()
    rows = fmt.importer(iter_sources(paths), options, report)
    try:
        summary = write_csv(
            target,
            "catalog",
            name,
            f"catalog import {format_name}",
            report.sources,
            CATALOG_HEADER,
            rows,
        )
    except NothingImported as exc:
        if report.skipped:
            where, why = report.skipped[0]
            raise NothingImported(
                f"{exc}; {report.skipped_count} line(s) skipped, the first: {where}: {why}"
            ) from None
        raise
    return CatalogImport(
        path=summary.path,
        format=format_name,
        category=category or "(from the rows)",
        rows=summary.rows,
        documents=report.documents,
        entries=len(report.names),
        addresses=len(report.addresses),
        span=(summary.span_from, summary.span_to),
        sources=tuple(report.sources),
        skipped=tuple(report.skipped),
        skipped_count=report.skipped_count,
        replaced=replaced,
    )
