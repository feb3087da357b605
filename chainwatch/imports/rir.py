"""The RIRs' statistics exchange files: ``delegated-*-latest`` and ``delegated-*-extended-latest``.

The five regional registries (AFRINIC, APNIC, ARIN, LACNIC, RIPE NCC) publish one format
(the NRO's "RIR statistics exchange format"); every line is ``|``-separated::

    2|apnic|20190101|51234|19830613|20181231|+1000        version line
    apnic|*|ipv4|*|45123|summary                          summary line
    apnic|KP|ipv4|175.45.176.0|1024|20070926|allocated|A9191B6B   record (extended: opaque-id)
    # ...                                                 comment

A record is ``registry|cc|type|start|value|date|status[|opaque-id[|extensions...]]``. For
``ipv4`` the value is a count of addresses that need not be a power of two (768, 1280), so
the range is split into the fewest CIDRs (``ipaddress.summarize_address_range``); for ``ipv6``
it is the prefix length. ``date`` (``YYYYMMDD``, the allocation or assignment date; empty or
``00000000`` when the registry does not know it) becomes ``valid_from``. Only ``allocated``
and ``assigned`` ranges are imported; ``available`` and ``reserved`` ones (extended files)
are skipped and counted.

``--country`` selects by ``cc``. ``--asn`` selects the ranges of the organisations that hold
the ASN: the extended files give every record of one holder the same opaque-id, so an
``asn`` record for the ASN names the holder and its ``ipv4``/``ipv6`` records follow. The
plain ``delegated`` files have no opaque-id, so ``--asn`` selects nothing from them (counted
in the skips, with the first line).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable

from chainwatch.errors import WatchlistError
from chainwatch.imports.watchlist_blocks import Block, IPNetwork, Selection, Skips

REGISTRIES = frozenset({"afrinic", "apnic", "arin", "iana", "lacnic", "ripencc"})
_RECORD = "registry|cc|type|start|value|date|status[|opaque-id]"
_USED = frozenset({"allocated", "assigned"})
_UNUSED = frozenset({"available", "reserved"})
_V4_END = (1 << 32) - 1


def read_rir(
    name: str, lines: Iterable[tuple[int, str]], selection: Selection, skips: Skips
) -> list[Block]:
    """The blocks of one statistics file that ``selection`` asks for (all when it is empty).

    ``lines`` are (line number, text) pairs; a malformed line is a ``WatchlistError`` at
    ``name:line``. The whole file is read before any block is returned, because an ``asn``
    record may follow the ranges its holder's opaque-id links it to."""
    candidates: list[tuple[int, str, str, str, str, dt.date | None, str | None]] = []
    holders: dict[str, set[int]] = {}  # opaque-id -> the selected ASNs it holds
    data_lines = 0
    for number, line in lines:
        where = f"{name}:{number}"
        if not line.strip():
            skips.add("blank lines", where)
            continue
        if line.startswith("#"):
            skips.add("comment lines", where)
            continue
        fields = line.split("|")
        data_lines += 1
        if data_lines == 1 and fields[0].replace(".", "").isdigit():
            _version_line(name, number, fields)
            skips.add("version lines", where)
            continue
        if len(fields) == 6 and fields[1] == "*" and fields[5] == "summary":
            skips.add("summary lines", where)
            continue
        if len(fields) < 7:
            raise WatchlistError(
                name, f"{len(fields)} |-separated fields", line=number, expected=_RECORD
            )
        registry, cc, kind, start, value, date, status = (f.strip() for f in fields[:7])
        opaque = fields[7].strip() or None if len(fields) > 7 else None
        if registry.lower() not in REGISTRIES:
            raise WatchlistError(
                name,
                f"registry {registry!r}",
                line=number,
                expected=f"one of {', '.join(sorted(REGISTRIES))} ({_RECORD})",
            )
        status = status.lower()
        if status not in _USED | _UNUSED:
            raise WatchlistError(
                name,
                f"status {status!r}",
                line=number,
                expected="allocated, assigned, available or reserved",
            )
        if kind == "asn":
            first, count = _asn_range(name, number, start, value)
            wanted = {n for n in selection.asns if first <= n < first + count}
            if wanted and opaque and status in _USED:
                holders.setdefault(opaque, set()).update(wanted)
            skips.add("asn records, read only to link --asn to holders", where)
            continue
        if kind not in ("ipv4", "ipv6"):
            raise WatchlistError(
                name, f"type {kind!r}", line=number, expected=f"asn, ipv4 or ipv6 ({_RECORD})"
            )
        if status in _UNUSED:
            skips.add("available or reserved ranges", where)
            continue
        cc = cc.upper()
        valid_from = _date(name, number, date)
        if selection.asns and opaque is None:
            skips.add("ranges --asn cannot select (no opaque-id: not an extended file)", where)
        if not selection or cc in selection.countries or (selection.asns and opaque):
            candidates.append((number, cc, kind, start, value, valid_from, opaque))
        else:
            skips.add("ranges of other countries", where)
    blocks: list[Block] = []
    for number, cc, kind, start, value, valid_from, opaque in candidates:
        reasons = [cc] if not selection or cc in selection.countries else []
        reasons += [f"AS{n}" for n in sorted(holders.get(opaque or "", ()))]
        if not reasons:
            skips.add("ranges of other countries or holders", f"{name}:{number}")
            continue
        note = "; ".join(reasons)
        for network in _networks(name, number, kind, start, value):
            blocks.append(Block(network, note, valid_from))
    return blocks


def _version_line(name: str, number: int, fields: list[str]) -> None:
    if len(fields) < 7 or fields[1].strip().lower() not in REGISTRIES:
        raise WatchlistError(
            name,
            "damaged version line",
            line=number,
            expected="version|registry|serial|records|startdate|enddate|UTCoffset",
        )


def _asn_range(name: str, number: int, start: str, value: str) -> tuple[int, int]:
    if not (start.isdigit() and value.isdigit() and int(value) > 0):
        raise WatchlistError(
            name,
            f"asn record start {start!r} value {value!r}",
            line=number,
            expected="a first AS number and a count of AS numbers",
        )
    return int(start), int(value)


def _date(name: str, number: int, text: str) -> dt.date | None:
    if text in ("", "00000000"):
        return None
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise WatchlistError(
            name,
            f"date {text!r}",
            line=number,
            expected="the allocation date as YYYYMMDD (or 00000000 or empty when unknown)",
        ) from None


def _networks(name: str, number: int, kind: str, start: str, value: str) -> list[IPNetwork]:
    """The CIDRs of one record: IPv4 ``value`` counts addresses, IPv6 ``value`` is a prefix."""
    try:
        if kind == "ipv4":
            first = ipaddress.IPv4Address(start)
            if not value.isdigit() or int(value) == 0:
                raise ValueError(f"value {value!r} is not a count of addresses")
            last = int(first) + int(value) - 1
            if last > _V4_END:
                raise ValueError(f"{value} addresses from {start} run past 255.255.255.255")
            return list(ipaddress.summarize_address_range(first, ipaddress.IPv4Address(last)))
        if not value.isdigit():
            raise ValueError(f"value {value!r} is not a prefix length")
        return [ipaddress.IPv6Network((start, int(value)))]
    except ValueError as exc:
        expected = (
            "an IPv4 start address and a count of addresses"
            if kind == "ipv4"
            else "an IPv6 start address and a prefix length (host bits clear)"
        )
        raise WatchlistError(
            name, f"{kind} record: {exc}", line=number, expected=expected
        ) from None
