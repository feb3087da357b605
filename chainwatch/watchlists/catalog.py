"""Endpoint catalogs (``watchlists/endpoints/*.toml``): known pools, Tor relays, VPN services.

Every problem is a ``WatchlistError`` naming the file, the line of the ``[[endpoints]]`` table
(or the entry) and what was expected. The CSV form (``catalog_csv.py``) makes the same
``Endpoint`` and ``Catalog`` objects; both keep their rules as rows (``endpoint_rows.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from chainwatch.categories import COIN_NAMES, EVENT_CATEGORIES, POOL, coin_of, pool_category
from chainwatch.errors import WatchlistError
from chainwatch.watchlists.builder import RangeBuilder
from chainwatch.watchlists.endpoint_rows import EndpointRows, rows_of
from chainwatch.watchlists.ranges import IPNetwork
from chainwatch.watchlists.tomlfile import TableLines, read_toml

#: A catalog host: a DNS name, or ``*.`` and a name (every name strictly below it).
HOST = re.compile(
    r"^(\*\.)?(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
HOST_HELP = "a DNS name like pool.example.org, or *.example.org for the names below it"


@dataclass(frozen=True)
class Endpoint:
    """A known remote endpoint (a pool, a Tor relay, a VPN service) from a catalog.

    ``ports`` empty means any port. ``valid_from``/``valid_to`` bound, inclusive, the dates on
    which the addresses belonged to the endpoint; records outside that window do not match.
    ``coin`` is the endpoint's coin (a pool's: the strongest evidence of what it mines), the
    category's own when the catalog names none; ``source`` where the catalog says it comes from.

    A CSV catalog's endpoint has many rows (``Catalog.rows``): there ``hosts`` lists its host
    patterns, ``networks`` and ``ports`` are empty (its addresses and ports are its rows: a
    million ``ipaddress`` objects would cost seconds) and ``valid_from``/``valid_to`` are
    the span of its rows' windows (None: some row is open at that end).
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
    coin: str | None = None
    source: str | None = None


@dataclass(frozen=True, eq=False)
class Catalog:
    """One catalog file: its endpoints (unique names) and their rows, in file order."""

    name: str
    path: Path
    sha256: str
    endpoints: tuple[Endpoint, ...]
    rows: EndpointRows


def endpoint_kind(
    category: Any, coin: Any, fail: Callable[[str, str], NoReturn]
) -> tuple[str, str | None]:
    """A catalog's category and coin, checked: the category and coin as an endpoint holds
    them. ``pool`` with a coin is that coin's pool; a coin must agree with the category's."""
    if category not in EVENT_CATEGORIES:
        fail(f"unknown category {category!r}", f"one of: {', '.join(EVENT_CATEGORIES)}")
    if coin in (None, ""):
        return category, coin_of(category)
    if coin not in COIN_NAMES:
        fail(f"unknown coin {coin!r}", f"one of: {', '.join(COIN_NAMES)}")
    if category == POOL:
        return pool_category(coin), coin
    if coin_of(category) != coin:
        fail(
            f"coin {coin!r} disagrees with category {category!r}",
            f"coin {coin_of(category)!r} or none"
            if coin_of(category)
            else "no coin for this category",
        )
    return category, coin


def _network(path: Path, value: Any, *, line: int | None, entry: str) -> IPNetwork:
    builder = RangeBuilder(path)
    builder.add(value, line=line, entry=entry)
    return builder.build(check_duplicates=False).network(0)


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
    "coin",
    "source",
}


def load_catalog(path: Path) -> Catalog:
    raw, text, data = read_toml(path)
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
    lines = TableLines(text, "endpoints")
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

        def fail(
            problem: str, expected: str, line: int | None = line, where: str = where
        ) -> NoReturn:
            raise WatchlistError(path, problem, line=line, entry=where, expected=expected)

        category, coin = endpoint_kind(entry.get("category"), entry.get("coin"), fail)
        source = entry.get("source", data.get("source"))
        if source is not None and not isinstance(source, str):
            fail(f"source is {source!r}", "a string")
        hosts = _string_list(path, entry.get("hosts", []), key="hosts", line=line, entry=where)
        for host in hosts:
            if not HOST.match(host):
                fail(f"bad host name {host!r}", HOST_HELP)
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
                coin=coin,
                source=source,
            )
        )
    return Catalog(
        name=path.stem,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        endpoints=tuple(endpoints),
        rows=rows_of(endpoints),
    )


def _string_list(path: Path, value: Any, *, key: str, line: int | None, entry: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WatchlistError(
            path, f"{key} is {value!r}", line=line, entry=entry, expected="a list of strings"
        )
    return value
