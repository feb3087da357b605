"""``chainwatch watchlist import``: registry, MaxMind and CAIDA data into ``watchlists/NAME.csv``.

The path of a record: ``sources.iter_sources`` opens what the user gave (files, directories,
tar/gzip/xz archives; MaxMind's zips are opened here) -> the format's parser yields ``Block``s
(``rir``, ``geolite2``, ``pfx2as``, ``plainlist``) -> one row per (range, window), the sources
that gave it joined -> ``output.write_csv`` writes the CSV with its provenance header,
atomically. Nothing is written when any file is malformed: every parser runs to the end first.

Importing into a NAME that already exists adds to it: the file holds the union of its
sources, a source imported again replaces its earlier rows, and ``replace`` starts afresh.
Where two sources give ranges for the same country or ASN, ``watchlist_compare`` says which
addresses one has and the other lacks. A row's ``source`` is ``FORMAT:DATASET``
(``rir:delegated-apnic-extended-latest``, ``geolite2:GeoLite2-Country-CSV_20190101``).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chainwatch.errors import InputError, UsageError, WatchlistError
from chainwatch.imports import geolite2
from chainwatch.imports.output import SourceFile, WriteSummary, read_provenance, write_csv
from chainwatch.imports.pfx2as import read_pfx2as
from chainwatch.imports.plainlist import read_list
from chainwatch.imports.rir import read_rir
from chainwatch.imports.sources import SourceMember, iter_lines, iter_sources
from chainwatch.imports.watchlist_blocks import (
    FORMATS,
    Block,
    IPNetwork,
    Selection,
    Skips,
    addresses_text,
    within_loader_limits,
)
from chainwatch.imports.watchlist_compare import disagreements
from chainwatch.watchlists.csvlist import COLUMNS
from chainwatch.watchlists.loader import SUFFIXES, load_watchlist

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COMPRESSED = (".gz", ".xz", ".bz2")
#: A range, its notes and the labels of the sources that gave it.
_Row = tuple[IPNetwork, list[str], list[str]]
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class SourceCount:
    """What one source gave: ranges and addresses per IP version."""

    label: str
    ranges: int = 0
    addresses: dict[int, int] = field(default_factory=lambda: {4: 0, 6: 0})


@dataclass
class ImportReport:
    written: WriteSummary
    addresses: dict[int, int]
    sources: list[SourceCount]
    kept: int
    skips: Skips
    disagreements: list[str]

    def size_text(self) -> str:
        return ", ".join(addresses_text(v, n) for v, n in sorted(self.addresses.items()) if n)


def import_watchlist(
    fmt: str,
    paths: Sequence[Path],
    *,
    name: str,
    directory: Path,
    selection: Selection,
    command: str,
    replace: bool = False,
) -> ImportReport:
    """Read ``paths`` as ``fmt``, keep what ``selection`` asks for, write ``directory/NAME.csv``."""
    if fmt not in FORMATS:
        raise UsageError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not _NAME.match(name):
        raise UsageError(f"--name {name!r}: expected letters, digits, - _ . (the file's stem)")
    if fmt == "list" and selection:
        raise UsageError("--country and --asn select from registry or routing data, not a list")
    if fmt != "list" and not selection:
        raise UsageError(
            f"{fmt}: give --country CC or --asn N (without one, every range of the data would "
            "be watched)"
        )
    if fmt == "pfx2as" and selection.countries:
        raise UsageError("pfx2as has no countries: use --asn")
    target = directory / f"{name}.csv"
    for suffix in SUFFIXES:
        other = directory / f"{name}{suffix}"
        if suffix != ".csv" and other.exists():
            raise UsageError(f"{other} already holds watchlist {name!r}: choose another --name")
    skips = Skips()
    sources: list[SourceFile] = []
    found = _read(fmt, paths, selection, skips, sources)
    rows: dict[tuple[str, str, str], _Row] = {}
    counts = {label: SourceCount(label) for label in found}
    for label, blocks in found.items():
        for block in blocks:
            valid_from = block.valid_from.isoformat() if block.valid_from else ""
            for network in within_loader_limits(block.network):
                row = rows.get((str(network), valid_from, ""))
                if row is None:
                    row = rows[(str(network), valid_from, "")] = (network, [], [])
                if block.note and block.note not in row[1]:
                    row[1].append(block.note)
                if label not in row[2]:
                    row[2].append(label)
                counts[label].ranges += 1
                counts[label].addresses[network.version] += network.num_addresses
    kept = 0
    if target.exists() and not replace:
        kept, old_sources = _keep_existing(target, set(found), rows)
        names = {s.name for s in sources}
        sources = [s for s in old_sources if s.name not in names] + sources
    ordered = sorted(
        rows.items(),
        key=lambda item: (
            item[1][0].version,
            int(item[1][0].network_address),
            item[1][0].prefixlen,
            item[0][1],
            item[0][2],
        ),
    )
    addresses = {4: 0, 6: 0}
    for _, (network, _, _) in ordered:
        addresses[network.version] += network.num_addresses
    table = [
        (cidr, "; ".join(notes), "; ".join(sorted(labels)), start, end)
        for (cidr, start, end), (_, notes, labels) in ordered
    ]
    written = write_csv(target, "watchlist", name, command, sources, COLUMNS, table)
    return ImportReport(
        written=written,
        addresses=addresses,
        sources=list(counts.values()),
        kept=kept,
        skips=skips,
        disagreements=disagreements(table),
    )


def _read(
    fmt: str,
    paths: Sequence[Path],
    selection: Selection,
    skips: Skips,
    sources: list[SourceFile],
) -> dict[str, list[Block]]:
    """Every source's blocks, by source label."""
    found: dict[str, list[Block]] = {}
    if fmt == "geolite2":
        return _read_geolite2(paths, selection, skips, sources)
    for member in _members(paths, sources):
        label = f"{fmt}:{_base(member.name)}"
        lines = iter_lines(member)
        if fmt == "rir":
            blocks = read_rir(member.name, lines, selection, skips)
        elif fmt == "pfx2as":
            blocks = list(read_pfx2as(member.name, lines, selection, skips))
        else:
            blocks = list(read_list(member.name, lines, skips))
        found.setdefault(label, []).extend(blocks)
    return found


def _read_geolite2(
    paths: Sequence[Path], selection: Selection, skips: Skips, sources: list[SourceFile]
) -> dict[str, list[Block]]:
    """Two passes: locations (and MMDBs) first, then the blocks files that need them."""
    found: dict[str, list[Block]] = {}
    countries: dict[str, str] = {}
    blocks_files = 0
    for member in _members(paths, sources):
        if not member.name.endswith((".csv", ".mmdb")):  # MaxMind's COPYRIGHT.txt, LICENSE.txt
            skips.add("files neither .csv nor .mmdb", member.name)
            continue
        if member.name.endswith(".mmdb"):
            data = member.data.read()
            kind, blocks = geolite2.read_mmdb(member.name, data, selection, skips)
            found.setdefault(f"geolite2:{_base(member.name)} ({kind})", []).extend(blocks)
            continue
        rows, header = _csv(member)
        if geolite2.header_kind(header) == "locations":
            countries.update(geolite2.read_locations(member.name, rows, header))
        else:
            blocks_files += 1
    if not blocks_files:
        return found
    for member in _members(paths, []):
        if not member.name.endswith(".csv"):
            continue
        rows, header = _csv(member)
        if geolite2.header_kind(header) != "locations":
            found.setdefault(f"geolite2:{geolite2.label(member.name)}", []).extend(
                geolite2.read_blocks(member.name, rows, header, selection, countries, skips)
            )
    return found


def _csv(member: SourceMember) -> tuple[Iterator[tuple[int, list[str]]], list[str]]:
    """A GeoLite2 CSV member's rows after its header, and the header (lower-cased)."""
    rows = _checked(member.name, geolite2.csv_rows(iter_lines(member)))
    _, header = next(rows, (1, []))
    header = [h.strip().lower() for h in header]
    if geolite2.header_kind(header) is None:
        raise WatchlistError(
            member.name,
            f"header {','.join(header)[:120]!r}",
            line=1,
            expected=f"{geolite2.HEADERS}, or an .mmdb file",
        )
    return rows, header


def _checked(name: str, rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    """``rows``, a CSV syntax error becoming a ``WatchlistError`` at its line."""
    last = 0
    try:
        for number, row in rows:
            last = number
            yield number, row
    except csv.Error as exc:
        raise WatchlistError(name, f"not CSV: {exc}", line=last + 1) from None


def _members(paths: Sequence[Path], sources: list[SourceFile]) -> Iterator[SourceMember]:
    """The members of ``paths``, zips opened (MaxMind ships its CSVs zipped); each top-level
    file is added to ``sources`` once."""
    for member in iter_sources(paths):
        if member.source not in sources:
            sources.append(member.source)
        peek = getattr(member.data, "peek", None)  # iter_sources' streams are buffered
        if peek is None or peek(4)[:4] != _ZIP_MAGIC:
            yield member
            continue
        try:
            archive = zipfile.ZipFile(io.BytesIO(member.data.read()))
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if info.is_dir() or Path(info.filename).name.startswith("."):
                    continue
                data = io.BytesIO(archive.read(info))
                yield SourceMember(f"{member.name}/{info.filename}", data, member.source)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise InputError(member.name, f"damaged zip archive: {exc}") from None


def _keep_existing(
    target: Path, imported: set[str], rows: dict[tuple[str, str, str], _Row]
) -> tuple[int, list[SourceFile]]:
    """Add the existing file's rows to ``rows``, less those of sources imported again now.
    Returns how many rows were kept and the file's earlier sources."""
    load_watchlist(target)  # a damaged existing file is an error at its line, not merged
    provenance = read_provenance(target)
    lines = target.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    body = "".join(lines[start:])
    kept = 0
    for record in csv.DictReader(io.StringIO(body, newline="")):
        labels = [s for s in (record.get("source") or "").split("; ") if s]
        remaining = [s for s in labels if s not in imported]
        if labels and not remaining:
            continue
        network = ipaddress.ip_network(record["cidr"].strip())
        key = (str(network), record.get("valid_from") or "", record.get("valid_to") or "")
        _, notes, have = rows.setdefault(key, (network, [], []))
        for note in (record.get("note") or "").split("; "):
            if note and note not in notes:
                notes.append(note)
        have.extend(s for s in remaining if s not in have)
        kept += 1
    return kept, list(provenance.sources) if provenance else []


def _base(member: str) -> str:
    """A member's file name without a compression suffix: the dataset's name."""
    base = member.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in _COMPRESSED:
        base = base.removesuffix(suffix)
    return base
