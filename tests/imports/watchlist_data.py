"""Publisher-format fixtures for the watchlist importer tests, written by the tests.

- RIR statistics exchange format (NRO), ``delegated-*-latest`` and ``-extended-latest``:
  version, summary and comment lines, non-power-of-two IPv4 counts (768, 1280), IPv6 prefix
  lengths, available/reserved records, asn records linked by opaque-id.
- MaxMind GeoLite2 Country and ASN CSV as shipped: one dated directory in a zip, blocks files
  for IPv4 and IPv6 (the IPv6 one with the newer ``is_anycast`` column), a locations file with
  quoted names (commas inside quotes), a continent-only geoname and an anonymous proxy row.
- CAIDA RouteViews pfx2as: tab-separated, multi-origin ``A_B`` and AS-set ``A,B`` lines,
  gzip-compressed as published.

Addresses are documentation ranges, loopback, and the public KP ranges 175.45.176.0/22,
210.52.109.0/24 and 77.94.35.0/24.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

APNIC_EXTENDED = """\
2.3|apnic|20190101|10|19830613|20181231|+1000
# APNIC delegated-extended statistics (test extract)
apnic|*|asn|*|2|summary
apnic|*|ipv4|*|6|summary
apnic|*|ipv6|*|1|summary
apnic|KP|asn|131279|1|20091211|allocated|A92E1062
apnic|AU|asn|64496|1|20100101|allocated|A9000002
apnic|KP|ipv4|175.45.176.0|768|20091211|allocated|A92E1062
apnic|KP|ipv4|210.52.109.0|256|20050415|assigned|A9000001
apnic|AU|ipv4|127.0.0.0|1280|20100101|allocated|A9000002
apnic||ipv4|198.51.100.0|256||available|
apnic|ZZ|ipv4|203.0.113.0|256|20190101|reserved|
apnic|AU|ipv4|192.0.2.0|256|00000000|assigned|A9000002
apnic|KP|ipv6|2001:db8::|32|20100826|allocated|A92E1062
"""

#: The same records without opaque-ids: the plain ``delegated`` form.
APNIC = """\
2|apnic|20190101|5|19830613|20181231|+1000
apnic|*|ipv4|*|4|summary
apnic|*|ipv6|*|1|summary
apnic|KP|ipv4|175.45.176.0|768|20091211|allocated
apnic|KP|ipv4|210.52.109.0|256|20050415|assigned
apnic|AU|ipv4|127.0.0.0|1280|20100101|allocated
apnic|KP|ipv6|2001:db8::|32|20100826|allocated
"""

OTHER_REGISTRIES = {
    "delegated-afrinic-extended-latest": (
        "2.3|afrinic|20190101|1|00000000|20181231|00000\n"
        "afrinic|*|ipv4|*|1|summary\n"
        "afrinic|ZA|ipv4|203.0.113.0|256|20010101|allocated|F36B94E2\n"
    ),
    "delegated-arin-extended-latest": (
        "2.3|arin|20190101|2|19700101|20181231|-0500\n"
        "# ARIN lists its reserved space with an empty cc\n"
        "arin|*|ipv4|*|2|summary\n"
        "arin|US|ipv4|192.0.2.0|256|19930501|assigned|6c065d5b54b877781f05e7d30ebfff28\n"
        "arin||ipv4|198.51.100.0|256||reserved|\n"
    ),
    "delegated-lacnic-extended-latest": (
        "2.3|lacnic|20190101|1|00000000|20181231|-0300\n"
        "lacnic|*|ipv4|*|1|summary\n"
        "lacnic|BR|ipv4|198.51.100.0|256|20040101|allocated|129812\n"
    ),
    "delegated-ripencc-extended-latest": (
        "2|ripencc|1546297200|2|19830705|20181231|+0100\n"
        "ripencc|*|ipv4|*|1|summary\n"
        "ripencc|*|ipv6|*|1|summary\n"
        "ripencc|RU|ipv4|77.94.35.0|256|20070508|allocated|4a9a1c34-a9be-4d8b-a8f7-7ab6e1d5c1f1\n"
        "ripencc|DE|ipv6|2001:db8:8000::|33|20100101|allocated|0a3c1d2e\n"
    ),
}

COUNTRY_BLOCKS_V4 = """\
network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider
175.45.176.0/22,1873107,1873107,,0,0
210.52.109.0/24,1873107,1814991,,0,0
77.94.35.0/24,2017370,1873107,,0,0
192.0.2.0/24,7626844,7626844,,0,0
198.51.100.0/24,,,,1,0
203.0.113.0/24,6255148,6255148,,0,0
"""

COUNTRY_BLOCKS_V6 = """\
network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,is_anycast
2001:db8::/32,1873107,1873107,,0,0,
2001:db8:8000::/33,2921044,2921044,,0,0,0
"""

LOCATIONS = """\
geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,is_in_european_union
1873107,en,AS,Asia,KP,"North Korea",0
1814991,en,AS,Asia,CN,China,0
2017370,en,EU,Europe,RU,Russia,0
2921044,en,EU,Europe,DE,Germany,1
7626844,en,NA,"North America",BQ,"Bonaire, Sint Eustatius, and Saba",0
6255148,en,EU,Europe,,,0
"""

ASN_BLOCKS_V4 = """\
network,autonomous_system_number,autonomous_system_organization
175.45.176.0/22,131279,"Ryugyong-dong"
77.94.35.0/24,131279,"Star JV; via a transit"
192.0.2.0/24,64496,"Example, Inc."
"""

PFX2AS_V4 = (
    "175.45.176.0\t22\t131279\n"
    "210.52.109.0\t24\t4837_131279\n"
    "77.94.35.0\t24\t20485,131279\n"
    "192.0.2.0\t24\t64496\n"
    "198.51.100.0\t24\t64497_64498,64499\n"
)
PFX2AS_V6 = "2001:db8::\t32\t131279\n2001:db8:8000::\t33\t64500\n"


def write_rir(directory: Path, *, all_registries: bool = False) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {"delegated-apnic-extended-latest": APNIC_EXTENDED}
    if all_registries:
        files.update(OTHER_REGISTRIES)
    paths = []
    for name, text in files.items():
        (directory / name).write_text(text)
        paths.append(directory / name)
    return paths


def write_geolite2_country_zip(directory: Path, date: str = "20190101") -> Path:
    """The Country CSV zip as MaxMind ships it: one dated directory inside."""
    directory.mkdir(parents=True, exist_ok=True)
    inner = f"GeoLite2-Country-CSV_{date}"
    path = directory / f"{inner}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{inner}/GeoLite2-Country-Blocks-IPv4.csv", COUNTRY_BLOCKS_V4)
        archive.writestr(f"{inner}/GeoLite2-Country-Blocks-IPv6.csv", COUNTRY_BLOCKS_V6)
        archive.writestr(f"{inner}/GeoLite2-Country-Locations-en.csv", LOCATIONS)
        archive.writestr(f"{inner}/COPYRIGHT.txt", "Database and Contents Copyright (c) MaxMind\n")
    return path


def write_pfx2as(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    v4 = directory / "routeviews-rv2-20190101-1200.pfx2as.gz"
    v6 = directory / "routeviews-rv6-20190101-1200.pfx2as.gz"
    v4.write_bytes(gzip.compress(PFX2AS_V4.encode()))
    v6.write_bytes(gzip.compress(PFX2AS_V6.encode()))
    return [v4, v6]


def csv_rows(path: Path) -> list[list[str]]:
    """A written watchlist's rows (provenance header and column header left out)."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert lines[0] == "cidr,note,source,valid_from,valid_to"
    import csv

    return list(csv.reader(lines[1:]))
