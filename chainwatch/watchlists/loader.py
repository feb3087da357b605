"""Loading and validating the watchlists directory: watchlists and endpoint catalogs.

Layout (DESIGN.md): ``<dir>/*.toml``, ``<dir>/*.csv`` and ``<dir>/*.txt|*.cidr`` are
watchlists, named by their file stem; ``<dir>/endpoints/*.toml`` and ``*.csv`` are endpoint
catalogs, loaded in name order (the classifier's priority order). Every
problem is reported as a ``WatchlistError`` naming the file, the line (or the entry when TOML
gives no line) and what was expected. Loading is linear in the file size: a 1,000,000-range
``.txt`` or ``.csv`` watchlist loads in about the time ``ipaddress.ip_network`` alone takes
over its CIDRs (``benchmarks/watchlists.py``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from chainwatch.errors import WatchlistError
from chainwatch.watchlists.builder import Numbered, RangeBuilder
from chainwatch.watchlists.catalog import Catalog, load_catalog
from chainwatch.watchlists.catalog_csv import load_catalog_csv
from chainwatch.watchlists.csvlist import load_csv_ranges
from chainwatch.watchlists.endpoint_rows import Endpoints, concat
from chainwatch.watchlists.ranges import Range, RangeTable
from chainwatch.watchlists.tomlfile import TableLines, read_text, read_toml

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: File suffixes that are watchlists.
SUFFIXES = (".toml", ".csv", ".txt", ".cidr")
#: File suffixes that are endpoint catalogs.
CATALOG_SUFFIXES = (".toml", ".csv")


@dataclass(frozen=True)
class Watchlist:
    """One watchlist file. ``table`` holds its ranges as columns; ``ranges`` as objects."""

    name: str
    path: Path
    sha256: str
    table: RangeTable
    description: str | None = None
    source: str | None = None

    @functools.cached_property
    def ranges(self) -> tuple[Range, ...]:
        return tuple(self.table.range(i) for i in range(len(self.table)))


@dataclass(frozen=True)
class WatchlistSet:
    """Everything loaded from one watchlists directory."""

    directory: Path
    watchlists: tuple[Watchlist, ...]
    catalogs: tuple[Catalog, ...] = field(default=())

    def get(self, name: str) -> Watchlist:
        for watchlist in self.watchlists:
            if watchlist.name == name:
                return watchlist
        known = ", ".join(w.name for w in self.watchlists) or "none"
        raise WatchlistError(
            self.directory, f"no watchlist named {name!r}", expected=f"one of: {known}"
        )

    @functools.cached_property
    def endpoints(self) -> Endpoints:
        """Every catalog's endpoints, with all their rows (what ``Classifier`` compiles)."""
        offsets = np.cumsum([0] + [len(c.endpoints) for c in self.catalogs]).tolist()
        return Endpoints(
            [e for catalog in self.catalogs for e in catalog.endpoints],
            concat([(c.rows, offsets[i]) for i, c in enumerate(self.catalogs)]),
        )


def load_watchlists(directory: Path | str) -> WatchlistSet:
    """Load and validate every watchlist and catalog below ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise WatchlistError(
            directory,
            "watchlists directory not found",
            expected="a directory of .toml/.csv/.txt/.cidr files",
        )
    watchlists: list[Watchlist] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix not in SUFFIXES:
            continue
        name = path.stem
        if not _NAME.match(name):
            raise WatchlistError(
                path,
                f"file name gives the watchlist name {name!r}",
                expected="letters, digits, - _ .",
            )
        if name in seen:
            raise WatchlistError(
                path,
                f"duplicate watchlist name {name!r} (also {seen[name].name})",
                expected="one file per name",
            )
        seen[name] = path
        watchlists.append(load_watchlist(path))
    catalogs: list[Catalog] = []
    endpoint_dir = directory / "endpoints"
    if endpoint_dir.is_dir():
        names: dict[str, Path] = {}
        stems: dict[str, Path] = {}
        for path in sorted(endpoint_dir.iterdir()):
            if not path.is_file() or path.suffix not in CATALOG_SUFFIXES:
                continue
            if path.stem in stems:
                raise WatchlistError(
                    path,
                    f"duplicate catalog name {path.stem!r} (also {stems[path.stem].name})",
                    expected="one file per catalog name",
                )
            stems[path.stem] = path
            catalog = load_catalog(path) if path.suffix == ".toml" else load_catalog_csv(path)
            for endpoint in catalog.endpoints:
                if endpoint.name in names:
                    raise WatchlistError(
                        path,
                        f"duplicate endpoint name {endpoint.name!r} "
                        f"(also in {names[endpoint.name].name})",
                        line=endpoint.line,
                        expected="unique endpoint names across catalogs",
                    )
                names[endpoint.name] = path
            catalogs.append(catalog)
    return WatchlistSet(directory=directory, watchlists=tuple(watchlists), catalogs=tuple(catalogs))


def load_watchlist(path: Path) -> Watchlist:
    """One watchlist file, by its suffix."""
    if path.suffix == ".toml":
        return _load_toml_watchlist(path)
    if path.suffix == ".csv":
        raw, text = read_text(path, bom=True)
        table = load_csv_ranges(path, text)
        return Watchlist(path.stem, path, hashlib.sha256(raw).hexdigest(), table)
    return _load_text_watchlist(path)


_RANGE_KEYS = {"cidr", "note", "allow_broad", "valid_from", "valid_to"}


def _load_toml_watchlist(path: Path) -> Watchlist:
    raw, text, data = read_toml(path)
    unknown = sorted(set(data) - {"description", "source", "ranges"})
    if unknown:
        raise WatchlistError(
            path, f"unknown key {unknown[0]!r}", expected="description, source and [[ranges]]"
        )
    for key in ("description", "source"):
        if key in data and not isinstance(data[key], str):
            raise WatchlistError(path, f"{key} is {data[key]!r}", expected="a string")
    entries = data.get("ranges")
    if not isinstance(entries, list) or not entries:
        raise WatchlistError(
            path, "no [[ranges]] entries", expected="at least one [[ranges]] table with a cidr"
        )
    found = TableLines(text, "ranges").lines
    lines = [found[i] if i < len(found) else None for i in range(len(entries))]
    for index, entry in enumerate(entries):
        if (
            not isinstance(entry, dict)
            or "cidr" not in entry
            or not entry.keys() <= _RANGE_KEYS
            or not isinstance(entry.get("note", ""), str)
            or not isinstance(entry.get("allow_broad", False), bool)
        ):
            _bad_entry(path, entry, lines[index], f"ranges #{index + 1}")
    builder = RangeBuilder(path)
    builder.extend(
        [entry["cidr"] for entry in entries],
        lines,
        entries=Numbered("ranges", len(entries)),
        notes=[entry.get("note") for entry in entries],
        valid_from=[entry.get("valid_from") for entry in entries],
        valid_to=[entry.get("valid_to") for entry in entries],
        allow_broad=[entry.get("allow_broad", False) for entry in entries],
    )
    return Watchlist(
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        table=builder.build(),
        description=data.get("description"),
        source=data.get("source"),
    )


def _bad_entry(path: Path, entry: Any, line: int | None, where: str) -> NoReturn:
    """Say what is wrong with a ``[[ranges]]`` entry (the slow path, only for bad input)."""
    if not isinstance(entry, dict):
        raise WatchlistError(
            path, "not a table", line=line, entry=where, expected="[[ranges]] tables"
        )
    extra = sorted(set(entry) - _RANGE_KEYS)
    if extra:
        raise WatchlistError(
            path,
            f"unknown key {extra[0]!r}",
            line=line,
            entry=where,
            expected=", ".join(sorted(_RANGE_KEYS)),
        )
    if "cidr" not in entry:
        raise WatchlistError(
            path, "cidr is missing", line=line, entry=where, expected='cidr = "192.0.2.0/24"'
        )
    if not isinstance(entry.get("allow_broad", False), bool):
        raise WatchlistError(
            path,
            f"allow_broad is {entry['allow_broad']!r}",
            line=line,
            entry=where,
            expected="true or false",
        )
    raise WatchlistError(
        path, f"note is {entry.get('note')!r}", line=line, entry=where, expected="a string"
    )


def _load_text_watchlist(path: Path) -> Watchlist:
    raw, text = read_text(path)
    cidrs: list[str] = []
    lines: list[int | None] = []
    broad: list[bool] = []
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.partition("#")[0].strip()
        if not body:
            continue
        # "cidr allow_broad" lets a text list accept one broad range on purpose.
        parts = body.split()
        if len(parts) > 1 and parts[1:] != ["allow_broad"]:
            raise WatchlistError(
                path,
                f"unexpected text {body!r}",
                line=number,
                expected="one CIDR per line, # for comments",
            )
        cidrs.append(parts[0])
        lines.append(number)
        broad.append(len(parts) > 1)
    builder = RangeBuilder(path)
    builder.extend(cidrs, lines, allow_broad=broad)
    if not len(builder):
        raise WatchlistError(path, "no ranges", expected="one CIDR per line")
    return Watchlist(path.stem, path, hashlib.sha256(raw).hexdigest(), builder.build())
