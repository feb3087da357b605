"""MaxMind's GeoLite2 / GeoIP2 Country (or City) and ASN data, as CSV or as MMDB.

CSV, as MaxMind ships it (a zip of one directory, ``GeoLite2-Country-CSV_20190101/``):

- blocks files, ``GeoLite2-Country-Blocks-IPv4.csv`` and ``-IPv6.csv``:
  ``network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,
  is_anonymous_proxy,is_satellite_provider[,is_anycast]`` (City adds postal code and place);
- locations files, ``GeoLite2-Country-Locations-en.csv`` (one per language):
  ``geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,
  is_in_european_union``, names quoted (``"Korea, North"``);
- ASN blocks, ``GeoLite2-ASN-Blocks-IPv4.csv``: ``network,autonomous_system_number,
  autonomous_system_organization``.

Only ``.csv`` and ``.mmdb`` files are read (the zip's COPYRIGHT.txt and LICENSE.txt are
skipped and counted); CSV files are told apart by their header row, not their names. A blocks
file's geoname ids are resolved through the locations files given with it. MMDB files
(``GeoLite2-Country.mmdb``, ``GeoLite2-ASN.mmdb``) are read with MaxMind's ``maxminddb``
package, every network of the tree in turn (IPv4 once, not again through its IPv6 aliases).

``--country`` matches a network's ``country`` or its ``registered_country`` (the country in
which the ISP registered it; a note ``KP registered`` says a range matched only that way).
``--asn`` matches ASN data. The data carry no dates, so no ``valid_from`` is given.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Any

import maxminddb
from maxminddb.errors import InvalidDatabaseError

from chainwatch.errors import WatchlistError
from chainwatch.imports.watchlist_blocks import Block, Selection, Skips, prefix_problem

COUNTRY_BLOCKS = ("network", "geoname_id", "registered_country_geoname_id")
ASN_BLOCKS = ("network", "autonomous_system_number", "autonomous_system_organization")
LOCATIONS = ("geoname_id", "country_iso_code")
HEADERS = (
    "a GeoLite2 blocks header (network,geoname_id,registered_country_geoname_id,...), "
    "an ASN blocks header (network,autonomous_system_number,autonomous_system_organization) "
    "or a locations header (geoname_id,locale_code,...,country_iso_code,...)"
)
MMDB_MARKER = b"\xab\xcd\xefMaxMind.com"
_DATED_DIR = re.compile(r"^(GeoLite2|GeoIP2)-[A-Za-z]+-CSV_\d{8}$")


def label(member: str) -> str:
    """The dataset a CSV file belongs to: its dated directory as MaxMind ships it
    (``GeoLite2-Country-CSV_20190101``), else its name without ``-Blocks-IPv4.csv`` and the
    like (``GeoLite2-Country``), so both families' files count as one source."""
    parts = member.replace("\\", "/").split("/")
    for part in reversed(parts[:-1]):
        if _DATED_DIR.match(part):
            return part
    stem = re.sub(r"-(Blocks-IPv[46]|Locations-[A-Za-z-]+)$", "", parts[-1].removesuffix(".csv"))
    return stem


def header_kind(header: list[str]) -> str | None:
    """``country-blocks``, ``asn-blocks``, ``locations``, or None for anything else."""
    names = set(header)
    if set(COUNTRY_BLOCKS) <= names:
        return "country-blocks"
    if set(ASN_BLOCKS[:2]) <= names:
        return "asn-blocks"
    if set(LOCATIONS) <= names and "network" not in names:
        return "locations"
    return None


def is_mmdb(name: str, data: bytes) -> bool:
    return name.endswith(".mmdb") or MMDB_MARKER in data[-(128 * 1024) :]


def csv_rows(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the number of the line each ends on (MaxMind's rows are one line each)."""
    current = [0]

    def texts() -> Iterator[str]:
        for number, text in lines:
            current[0] = number
            yield text

    for row in csv.reader(texts(), strict=True):
        yield current[0], row


def read_locations(
    name: str, rows: Iterator[tuple[int, list[str]]], header: list[str]
) -> dict[str, str]:
    """geoname_id -> country ISO code ("" for a continent), from a locations file (header
    already read)."""
    at_id, at_cc = header.index("geoname_id"), header.index("country_iso_code")
    countries: dict[str, str] = {}
    for number, row in rows:
        if len(row) != len(header):
            _width(name, number, row, header)
        if not row[at_id].isdigit():
            raise WatchlistError(
                name, f"geoname_id {row[at_id]!r}", line=number, expected="a number"
            )
        countries[row[at_id]] = row[at_cc].upper()  # "" for a continent: no country
    return countries


def read_blocks(
    name: str,
    rows: Iterator[tuple[int, list[str]]],
    header: list[str],
    selection: Selection,
    countries: dict[str, str],
    skips: Skips,
) -> Iterator[Block]:
    """The selected networks of a Country/City or ASN blocks file (header already read)."""
    asn = header_kind(header) == "asn-blocks"
    at_net = header.index("network")
    if asn:
        at_asn = header.index("autonomous_system_number")
        at_org = header.index("autonomous_system_organization") if ASN_BLOCKS[2] in header else None
    else:
        at_geo = header.index("geoname_id")
        at_reg = header.index("registered_country_geoname_id")
    for number, row in rows:
        where = f"{name}:{number}"
        if len(row) != len(header):
            _width(name, number, row, header)
        address, _, length = row[at_net].partition("/")
        problem = prefix_problem(address, length)
        if problem is not None:
            raise WatchlistError(
                name, f"network {row[at_net]!r}: {problem}", line=number, expected="a CIDR"
            )
        if asn:
            if not row[at_asn].isdigit():
                raise WatchlistError(
                    name,
                    f"autonomous_system_number {row[at_asn]!r}",
                    line=number,
                    expected="an AS number",
                )
            number_as = int(row[at_asn])
            if selection and number_as not in selection.asns:
                reason = "networks of other ASNs" if selection.asns else "ASN rows (no country)"
                skips.add(reason, where)
                continue
            org = (row[at_org] if at_org is not None else "").replace(";", ",").strip()
            yield Block(ipaddress.ip_network(row[at_net]), f"AS{number_as} {org}".strip())
            continue
        if selection and not selection.countries:
            skips.add("country rows (no ASN in them for --asn)", where)
            continue
        country = _country(name, number, row[at_geo], countries)
        registered = _country(name, number, row[at_reg], countries)
        note = _country_note(selection, country, registered)
        if note is None:
            skips.add(
                "networks of other countries" if selection.countries else "country rows", where
            )
            continue
        yield Block(ipaddress.ip_network(row[at_net]), note)


def read_mmdb(
    name: str, data: bytes, selection: Selection, skips: Skips
) -> tuple[str, list[Block]]:
    """The database type (``GeoLite2-Country``) and the selected networks of an MMDB file."""
    try:
        reader = maxminddb.open_database(io.BytesIO(data), maxminddb.MODE_FD)
    except (InvalidDatabaseError, ValueError, OSError) as exc:
        raise WatchlistError(
            name, f"not a MaxMind DB file: {exc}", expected="an .mmdb file"
        ) from None
    blocks: list[Block] = []
    with reader:
        kind = str(reader.metadata().database_type)
        try:
            for network, record in reader:
                note = _record_note(selection, record)
                if note is None:
                    skips.add("networks not selected", f"{name} ({network})")
                    continue
                blocks.append(Block(network, note))
        except (InvalidDatabaseError, ValueError) as exc:
            raise WatchlistError(
                name, f"damaged MaxMind DB: {exc}", expected="an .mmdb file"
            ) from None
    return kind, blocks


def _record_note(selection: Selection, record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if "autonomous_system_number" in record:
        number = record["autonomous_system_number"]
        if selection and number not in selection.asns:
            return None
        org = str(record.get("autonomous_system_organization", "")).replace(";", ",")
        return f"AS{number} {org}".strip()

    def code(key: str) -> str | None:
        value = record.get(key)
        return (
            str(value["iso_code"]).upper()
            if isinstance(value, dict) and "iso_code" in value
            else None
        )

    return _country_note(selection, code("country"), code("registered_country"))


def _country_note(selection: Selection, country: str | None, registered: str | None) -> str | None:
    if not selection:
        return country or registered or None
    if country is not None and country in selection.countries:
        return country
    if registered is not None and registered in selection.countries:
        return f"{registered} registered"
    return None


def _country(name: str, number: int, geoname: str, countries: dict[str, str]) -> str | None:
    if not geoname:
        return None
    if geoname not in countries:
        raise WatchlistError(
            name,
            f"geoname_id {geoname} is in no locations file given",
            line=number,
            expected="the Locations CSV shipped with the blocks (*-Locations-en.csv)",
        )
    return countries[geoname] or None


def _width(name: str, number: int, row: list[str], header: list[str]) -> None:
    raise WatchlistError(
        name,
        f"{len(row)} fields",
        line=number,
        expected=f"{len(header)} fields as in the header ({','.join(header)})",
    )
