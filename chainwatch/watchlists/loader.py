"""Loading and validating watchlists and endpoint catalogs from the watchlists directory.

Layout (DESIGN.md): ``<dir>/*.toml`` and ``<dir>/*.txt|*.cidr`` are watchlists, named by their
file stem; ``<dir>/endpoints/*.toml`` are endpoint catalogs. Every problem is reported as a
``WatchlistError`` naming the file, the line (or the entry when TOML gives no line) and what was
expected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainwatch.categories import EVENT_CATEGORIES
from chainwatch.errors import WatchlistError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Shortest prefixes accepted without ``allow_broad = true``.
MIN_PREFIX = {4: 8, 6: 16}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HOST = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


@dataclass(frozen=True)
class Range:
    """One watched range. ``line`` is where it stands in its file (None when unknown)."""

    network: IPNetwork
    note: str | None = None
    line: int | None = None

    @property
    def cidr(self) -> str:
        return str(self.network)


@dataclass(frozen=True)
class Watchlist:
    name: str
    path: Path
    sha256: str
    ranges: tuple[Range, ...]
    description: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """A known remote endpoint (a pool, a Tor relay, a VPN service) from a catalog.

    ``ports`` empty means any port. ``valid_from``/``valid_to`` bound, inclusive, the dates on
    which the addresses belonged to the endpoint; records outside that window do not match.
    """

    name: str
    category: str
    catalog: str
    hosts: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    ports: frozenset[int] = frozenset()
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    line: int | None = None


@dataclass(frozen=True)
class Catalog:
    name: str
    path: Path
    sha256: str
    endpoints: tuple[Endpoint, ...]


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

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for catalog in self.catalogs for e in catalog.endpoints)


def load_watchlists(directory: Path | str) -> WatchlistSet:
    """Load and validate every watchlist and catalog below ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise WatchlistError(
            directory,
            "watchlists directory not found",
            expected="a directory of .toml/.txt/.cidr files",
        )
    watchlists: list[Watchlist] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.suffix not in {".toml", ".txt", ".cidr"}:
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
        watchlists.append(
            _load_toml_watchlist(path) if path.suffix == ".toml" else _load_text_watchlist(path)
        )
    catalogs: list[Catalog] = []
    endpoint_dir = directory / "endpoints"
    if endpoint_dir.is_dir():
        names: dict[str, Path] = {}
        for path in sorted(endpoint_dir.glob("*.toml")):
            catalog = _load_catalog(path)
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


def _read(path: Path) -> tuple[bytes, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WatchlistError(path, f"cannot read: {exc.strerror}") from None
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise WatchlistError(path, "not UTF-8 text", line=line) from None


def _toml(path: Path) -> tuple[bytes, str, dict[str, Any]]:
    raw, text = _read(path)
    try:
        return raw, text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+)", str(exc))
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise WatchlistError(
            path, f"not valid TOML: {problem}", line=int(match.group(1)) if match else None
        ) from None


class _Lines:
    """Finds the line of the n-th ``[[table]]`` header, since tomllib keeps no positions."""

    def __init__(self, text: str, table: str) -> None:
        pattern = re.compile(rf"^[ \t]*\[\[[ \t]*{re.escape(table)}[ \t]*\]\]", re.MULTILINE)
        self.lines = [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]

    def __call__(self, index: int) -> int | None:
        return self.lines[index] if index < len(self.lines) else None


def _network(
    path: Path, value: Any, *, line: int | None, entry: str | None, allow_broad: bool = False
) -> IPNetwork:
    if not isinstance(value, str):
        raise WatchlistError(
            path,
            f"cidr is {value!r}",
            line=line,
            entry=entry,
            expected='a string like "192.0.2.0/24"',
        )
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        reason = "host bits set" if "host bits set" in str(exc) else "not an IPv4 or IPv6 network"
        raise WatchlistError(
            path,
            f"bad CIDR {value!r}: {reason}",
            line=line,
            entry=entry,
            expected='a network like "192.0.2.0/24" or "2001:db8::/32"',
        ) from None
    shortest = MIN_PREFIX[network.version]
    if network.prefixlen < shortest and not allow_broad:
        raise WatchlistError(
            path,
            f"range {value} is broader than /{shortest}",
            line=line,
            entry=entry,
            expected=f"a prefix of /{shortest} or longer, or allow_broad = true on this entry",
        )
    return network


def _load_toml_watchlist(path: Path) -> Watchlist:
    raw, text, data = _toml(path)
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
    lines = _Lines(text, "ranges")
    ranges = []
    for index, entry in enumerate(entries):
        line, where = lines(index), f"ranges #{index + 1}"
        if not isinstance(entry, dict):
            raise WatchlistError(
                path, "not a table", line=line, entry=where, expected="[[ranges]] tables"
            )
        extra = sorted(set(entry) - {"cidr", "note", "allow_broad"})
        if extra:
            raise WatchlistError(
                path,
                f"unknown key {extra[0]!r}",
                line=line,
                entry=where,
                expected="cidr, note, allow_broad",
            )
        if "cidr" not in entry:
            raise WatchlistError(
                path, "cidr is missing", line=line, entry=where, expected='cidr = "192.0.2.0/24"'
            )
        broad = entry.get("allow_broad", False)
        if not isinstance(broad, bool):
            raise WatchlistError(
                path, f"allow_broad is {broad!r}", line=line, entry=where, expected="true or false"
            )
        note = entry.get("note")
        if note is not None and not isinstance(note, str):
            raise WatchlistError(
                path, f"note is {note!r}", line=line, entry=where, expected="a string"
            )
        network = _network(path, entry["cidr"], line=line, entry=where, allow_broad=broad)
        ranges.append(Range(network=network, note=note, line=line))
    _no_duplicates(path, ranges)
    return Watchlist(
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        ranges=tuple(ranges),
        description=data.get("description"),
        source=data.get("source"),
    )


def _load_text_watchlist(path: Path) -> Watchlist:
    raw, text = _read(path)
    ranges = []
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        # "cidr allow_broad" lets a text list accept one broad range on purpose.
        parts = body.split()
        broad = parts[1:] == ["allow_broad"]
        if len(parts) > 1 and not broad:
            raise WatchlistError(
                path,
                f"unexpected text {body!r}",
                line=number,
                expected="one CIDR per line, # for comments",
            )
        ranges.append(
            Range(
                network=_network(path, parts[0], line=number, entry=None, allow_broad=broad),
                line=number,
            )
        )
    if not ranges:
        raise WatchlistError(path, "no ranges", expected="one CIDR per line")
    _no_duplicates(path, ranges)
    return Watchlist(
        name=path.stem, path=path, sha256=hashlib.sha256(raw).hexdigest(), ranges=tuple(ranges)
    )


def _no_duplicates(path: Path, ranges: list[Range]) -> None:
    first: dict[IPNetwork, Range] = {}
    for item in ranges:
        if item.network in first:
            raise WatchlistError(
                path,
                f"duplicate range {item.cidr} (first on line {first[item.network].line})",
                line=item.line,
                expected="each range once",
            )
        first[item.network] = item


def _date(path: Path, value: Any, *, key: str, line: int | None, entry: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise WatchlistError(
        path, f"{key} is {value!r}", line=line, entry=entry, expected='a date like "2017-01-01"'
    )


_ENDPOINT_KEYS = {
    "name",
    "category",
    "hosts",
    "ips",
    "cidrs",
    "ports",
    "valid_from",
    "valid_to",
    "note",
    "url",
}


def _load_catalog(path: Path) -> Catalog:
    raw, text, data = _toml(path)
    unknown = sorted(set(data) - {"endpoints", "description", "source"})
    if unknown:
        raise WatchlistError(
            path,
            f"unknown key {unknown[0]!r}",
            expected="[[endpoints]] tables (and description, source)",
        )
    entries = data.get("endpoints")
    if not isinstance(entries, list) or not entries:
        raise WatchlistError(
            path, "no [[endpoints]] entries", expected="at least one [[endpoints]] table"
        )
    lines = _Lines(text, "endpoints")
    endpoints = []
    for index, entry in enumerate(entries):
        line = lines(index)
        where = f"endpoints #{index + 1}"
        if not isinstance(entry, dict):
            raise WatchlistError(
                path, "not a table", line=line, entry=where, expected="[[endpoints]] tables"
            )
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise WatchlistError(
                path, f"name is {name!r}", line=line, entry=where, expected="a non-empty string"
            )
        where = f"endpoint {name!r}"
        extra = sorted(set(entry) - _ENDPOINT_KEYS)
        if extra:
            raise WatchlistError(
                path,
                f"unknown key {extra[0]!r}",
                line=line,
                entry=where,
                expected=", ".join(sorted(_ENDPOINT_KEYS)),
            )
        category = entry.get("category")
        if category not in EVENT_CATEGORIES:
            raise WatchlistError(
                path,
                f"unknown category {category!r}",
                line=line,
                entry=where,
                expected=f"one of: {', '.join(EVENT_CATEGORIES)}",
            )
        hosts = _string_list(path, entry.get("hosts", []), key="hosts", line=line, entry=where)
        for host in hosts:
            if not _HOST.match(host):
                raise WatchlistError(
                    path,
                    f"bad host name {host!r}",
                    line=line,
                    entry=where,
                    expected="a DNS name like pool.example.org",
                )
        networks: list[IPNetwork] = []
        for ip in _string_list(path, entry.get("ips", []), key="ips", line=line, entry=where):
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                raise WatchlistError(
                    path,
                    f"bad address {ip!r}",
                    line=line,
                    entry=where,
                    expected="an IPv4 or IPv6 address",
                ) from None
            networks.append(ipaddress.ip_network(address))
        for cidr in _string_list(path, entry.get("cidrs", []), key="cidrs", line=line, entry=where):
            networks.append(_network(path, cidr, line=line, entry=where))
        if not hosts and not networks:
            raise WatchlistError(
                path,
                "no hosts, ips or cidrs",
                line=line,
                entry=where,
                expected="at least one way to recognise the endpoint",
            )
        ports = entry.get("ports", [])
        if not isinstance(ports, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
        ):
            raise WatchlistError(
                path,
                f"ports is {ports!r}",
                line=line,
                entry=where,
                expected="a list of port numbers 1-65535",
            )
        valid_from = _date(path, entry.get("valid_from"), key="valid_from", line=line, entry=where)
        valid_to = _date(path, entry.get("valid_to"), key="valid_to", line=line, entry=where)
        if valid_from and valid_to and valid_to < valid_from:
            raise WatchlistError(
                path,
                f"valid_to {valid_to} is before valid_from {valid_from}",
                line=line,
                entry=where,
            )
        endpoints.append(
            Endpoint(
                name=name,
                category=category,
                catalog=path.stem,
                hosts=tuple(h.lower() for h in hosts),
                networks=tuple(networks),
                ports=frozenset(ports),
                valid_from=valid_from,
                valid_to=valid_to,
                line=line,
            )
        )
    return Catalog(
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        endpoints=tuple(endpoints),
    )


def _string_list(path: Path, value: Any, *, key: str, line: int | None, entry: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WatchlistError(
            path, f"{key} is {value!r}", line=line, entry=entry, expected="a list of strings"
        )
    return value
