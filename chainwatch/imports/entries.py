"""What every catalog importer shares: its options, the rows it writes, what it reports.

A catalog importer is a function ``(members, options, report) -> rows``: it reads the
``SourceMember``s of ``chainwatch.imports.sources`` and yields rows of ``CATALOG_HEADER``
(INTERFACES.md section 3), noting in ``report`` what it read and which lines it skipped, so
that the command can say "imported N entries, skipped M lines" with each line's file:line
(intelmq's habit: a bad line is set aside, not the end of the import). Times inside
importers are whole seconds since the epoch (UTC); ``stamp`` writes them as the catalog's
ISO-8601 ``Z`` form.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from chainwatch.categories import CATEGORIES, COINS, OTHER, coin_of
from chainwatch.errors import UsageError
from chainwatch.imports.output import SourceFile
from chainwatch.imports.sources import SourceMember
from chainwatch.watchlists.catalog_csv import COLUMNS

#: The catalog CSV's columns, as the loader reads them.
CATALOG_HEADER = COLUMNS
Row = tuple[str, str, str, str, str, str, str, str, str]
#: How many skipped lines the report keeps word for word (the rest are counted).
KEEP_SKIPPED = 50
# The catalog loader's host syntax (a letters-only top-level label), so that what an import
# writes, the loader reads.
_HOST = re.compile(r"^(\*\.)?(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Options:
    """The command's options (``name``: the catalog's; ``category`` empty: not given, for
    formats that carry their own). ``valid_from``/``valid_to`` are the options as written (a date
    or an ISO-8601 UTC time) and ``start``/``end`` the same as inclusive epoch seconds;
    ``gap`` is in seconds."""

    category: str
    name: str = ""
    coin: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    gap: int = 3 * 3600

    @property
    def start(self) -> int | None:
        return None if self.valid_from is None else bound(self.valid_from, last=False)

    @property
    def end(self) -> int | None:
        return None if self.valid_to is None else bound(self.valid_to, last=True)


@dataclass
class Report:
    """What an import read: members (documents or files), names (relays, list entries),
    addresses (or hosts) and the lines it skipped, as ``(file:line, why)``."""

    documents: int = 0
    names: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    sources: list[SourceFile] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < KEEP_SKIPPED:
            self.skipped.append((where, why))

    def members(self, members: Iterator[SourceMember]) -> Iterator[SourceMember]:
        """``members``, counting documents and keeping each top-level source once."""
        for member in members:
            if not self.sources or self.sources[-1] != member.source:
                self.sources.append(member.source)
            self.documents += 1
            yield member


Importer = Callable[[Iterator[SourceMember], Options, Report], Iterator[Row]]


def relay_name(catalog: str, fingerprint: str, nickname: str | None = None) -> str:
    """A Tor relay's endpoint name: Tor's long name ``$FINGERPRINT~nickname`` scoped by the
    catalog (``tor-2019/$9695...CE31~moria1``), because the loader wants endpoint names unique
    across catalogs and the same relay is in every year's import."""
    long_name = f"${fingerprint.upper()}" + (f"~{nickname}" if nickname else "")
    return f"{catalog}/{long_name}"


def stamp(seconds: int) -> str:
    """Epoch seconds as the catalog's ISO-8601 UTC form, ``2019-01-01T05:00:00Z``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_of(moment: dt.datetime) -> int:
    """A datetime as epoch seconds; a naive one is UTC (stem's and Onionoo's times are)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def bound(text: str, *, last: bool) -> int:
    """A window bound in the catalog's form as epoch seconds; a date alone as the last bound
    is its whole day (to 23:59:59)."""
    if len(text) == 10:
        day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        return seconds_of(day) + (86400 - 1 if last else 0)
    return seconds_of(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def parse_when(text: str, option: str) -> str:
    """A ``--valid-from``/``--valid-to`` value in the catalog's form: ``YYYY-MM-DD`` or an
    ISO-8601 time with a zone, written back as UTC with ``Z``."""
    text = text.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text).isoformat()
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UsageError(
            f"{option} {text!r}: expected a date (2019-01-01) or an ISO-8601 UTC time "
            "(2019-01-01T05:00:00Z)"
        )
    return stamp(seconds_of(moment))


def check_category(category: str, coin: str | None) -> None:
    """The category must be registered and ``--coin`` must agree with it."""
    if category not in CATEGORIES or category == OTHER:
        raise UsageError(
            f"--category {category!r} is not a category; expected one of "
            f"{', '.join(c for c in CATEGORIES if c != OTHER)}"
        )
    if coin is None:
        return
    if coin not in COINS:
        raise UsageError(f"--coin {coin!r} is not a coin; expected one of {', '.join(COINS)}")
    if coin_of(category) != coin:
        raise UsageError(
            f"--coin {coin} does not agree with --category {category}; expected "
            f"--category {coin}-pool or {coin}-p2p"
        )


def host_name(text: str) -> str | None:
    """``text`` as a catalog host (lower case, no trailing dot), or None when it is not a
    DNS name (an address, a bare word like ``localhost``, punctuation)."""
    name = text.strip().lower().rstrip(".")
    if not _HOST.match(name):
        return None
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    return None


def address_text(text: str) -> str | None:
    """An IP address or CIDR in canonical text, or None. A network with host bits set
    (``192.0.2.1/24``) is not one: the list meant something else, so it is skipped, named."""
    try:
        if "/" in text:
            network = ipaddress.ip_network(text.strip(), strict=True)
            if network.prefixlen == network.max_prefixlen:
                return str(network.network_address)
            return str(network)
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None
