"""Blocklists as their publishers write them: FireHOL ipsets/netsets, hosts files, plain lists.

- ``ipset`` / ``netset`` (FireHOL, https://iplists.firehol.org/): ``#`` comment header, then one
  IP, CIDR or ``A-B`` range per line. The header's ``# Source File Date:`` (when the source
  list last changed; else ``# This File Date:``, when FireHOL processed it), e.g.
  ``Mon Nov 25 18:40:06 UTC 2019``, is the rows' ``valid_from`` unless ``--valid-from`` is given.
- ``hosts`` (hosts-file format, as CoinBlockerLists ships it): ``0.0.0.0 host`` or
  ``127.0.0.1 host`` lines (several names per line allowed, tabs or spaces, ``#`` comments
  anywhere), and plain host lines; the address of a hosts line is a sink, not the host's
  address, so each name becomes a ``host`` row. Hosts-file boilerplate (``localhost``,
  ``broadcasthost``, ``ip6-*``) is left out.
- ``list``: one address, CIDR or host name (``*.example.org`` allowed) per line, ``#`` comments.

Every row is named after the catalog (``--name``); these lists say what a thing is (the
category), not which pool or service it belongs to. Dates come from the options; a line that
is none of the above is skipped and named with its file:line. An entry listed twice (within
a file or across files) is written once.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterator

from chainwatch.imports.entries import (
    Options,
    Report,
    Row,
    address_text,
    host_name,
    seconds_of,
    stamp,
)
from chainwatch.imports.sources import SourceMember, iter_lines

_FIREHOL_DATE = re.compile(r"^#\s*(Source File Date|This File Date)\s*:\s*(.*?)\s*$", re.I)
_BOILERPLATE = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)


def _firehol_date(text: str) -> int | None:
    """``Mon Nov 25 18:40:06 UTC 2019`` (the ``date`` command's output) as epoch seconds."""
    parts = text.split()
    if len(parts) != 6 or parts[4] not in ("UTC", "GMT"):
        return None
    try:
        moment = dt.datetime.strptime(" ".join(parts[:4] + parts[5:]), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return seconds_of(moment)


def _addresses(text: str) -> list[str] | None:
    """An IP, a CIDR or an ``A-B`` range (as the minimal CIDRs), or None."""
    if "-" in text:
        first, _, last = text.partition("-")
        try:
            lo, hi = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
            return [str(n) for n in ipaddress.summarize_address_range(lo, hi)]
        except (ValueError, TypeError):
            return None
    address = address_text(text)
    return None if address is None else [address]


class _Writer:
    """Rows of one import: the catalog's name and category, written once each."""

    def __init__(self, options: Options, report: Report) -> None:
        self.options = options
        self.report = report
        self.seen: set[tuple[str, str, str]] = set()

    def address(self, address: str, valid_from: str, source: str) -> Iterator[Row]:
        key = (address, "", valid_from)
        if key in self.seen:
            return
        self.seen.add(key)
        self.report.addresses.add(address)
        yield self._row(address, "", valid_from, source)

    def host(self, host: str, valid_from: str, source: str) -> Iterator[Row]:
        key = ("", host, valid_from)
        if key in self.seen:
            return
        self.seen.add(key)
        self.report.addresses.add(host)
        yield self._row("", host, valid_from, source)

    def _row(self, address: str, host: str, valid_from: str, source: str) -> Row:
        o = self.options
        self.report.names.add(o.name)
        return (
            o.name,
            o.category,
            o.coin or "",
            address,
            host,
            "",
            valid_from,
            o.valid_to or "",
            source,
        )


def _content(line: str) -> str:
    return line.split("#", 1)[0].strip()


def ipset_rows(members: Iterator[SourceMember], options: Options, report: Report) -> Iterator[Row]:
    """Rows of ``ipset``/``netset`` (see the module docstring)."""
    out = _Writer(options, report)
    for member in report.members(members):
        header: dict[str, int] = {}
        valid_from = options.valid_from or ""
        for number, line in iter_lines(member):
            if line.lstrip().startswith("#"):
                match = _FIREHOL_DATE.match(line.strip())
                if match and options.valid_from is None:
                    when = _firehol_date(match[2])
                    if when is None:
                        report.skip(
                            f"{member.name}:{number}",
                            f"date {match[2]!r} not understood (expected "
                            "'Mon Nov 25 18:40:06 UTC 2019'); not used as valid_from",
                        )
                    else:
                        header[match[1].lower()] = when
                        valid_from = stamp(header.get("source file date", when))
                continue
            text = _content(line)
            if not text:
                continue
            addresses = _addresses(text)
            if addresses is None:
                report.skip(f"{member.name}:{number}", f"{text[:80]!r} is not an IP, CIDR or range")
                continue
            for address in addresses:
                yield from out.address(address, valid_from, member.source.name)


def hosts_rows(members: Iterator[SourceMember], options: Options, report: Report) -> Iterator[Row]:
    """Rows of ``hosts`` (see the module docstring)."""
    out = _Writer(options, report)
    valid_from = options.valid_from or ""
    for member in report.members(members):
        for number, line in iter_lines(member):
            words = _content(line).split()
            if not words:
                continue
            if address_text(words[0]) is not None and "/" not in words[0]:
                names = words[1:]
                if not names:
                    report.skip(f"{member.name}:{number}", "an address without a host name")
                    continue
            elif len(words) == 1:
                names = words
            else:
                report.skip(f"{member.name}:{number}", f"{line.strip()[:80]!r} is not a hosts line")
                continue
            for word in names:
                if word.lower() in _BOILERPLATE:
                    continue
                host = host_name(word)
                if host is None:
                    report.skip(f"{member.name}:{number}", f"{word[:80]!r} is not a host name")
                    continue
                yield from out.host(host, valid_from, member.source.name)


def list_rows(members: Iterator[SourceMember], options: Options, report: Report) -> Iterator[Row]:
    """Rows of ``list`` (see the module docstring)."""
    out = _Writer(options, report)
    valid_from = options.valid_from or ""
    for member in report.members(members):
        for number, line in iter_lines(member):
            text = _content(line)
            if not text:
                continue
            address = address_text(text)
            if address is not None:
                yield from out.address(address, valid_from, member.source.name)
                continue
            host = host_name(text)
            if host is None:
                report.skip(
                    f"{member.name}:{number}", f"{text[:80]!r} is not an address, CIDR or host name"
                )
                continue
            yield from out.host(host, valid_from, member.source.name)
