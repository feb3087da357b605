"""``chainwatch watchlist import geolite2``: MaxMind's CSV (the zip as shipped, and loose files)
and MMDB (written by the test with ``mmdb-writer``), and the disagreement report when a
second source is imported for the same country under one name."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import netaddr
from mmdb_writer import MMDBWriter

from chainwatch.imports.output import read_provenance
from tests.imports.watchlist_data import (
    ASN_BLOCKS_V4,
    COUNTRY_BLOCKS_V4,
    csv_rows,
    write_geolite2_country_zip,
    write_rir,
)

CSV_SOURCE = "geolite2:GeoLite2-Country-CSV_20190101"


def test_country_csv_zip_matches_country_and_registered_country(cli: Any, tmp_path: Path) -> None:
    archive = write_geolite2_country_zip(tmp_path / "data")
    lists = tmp_path / "lists"
    result = cli(
        "--watchlists", lists, "watchlist", "import", "geolite2", archive, "--name", "kp",
        "--country", "KP",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert csv_rows(lists / "kp.csv") == [
        ["77.94.35.0/24", "KP registered", CSV_SOURCE, "", ""],  # country RU, registered KP
        ["175.45.176.0/22", "KP", CSV_SOURCE, "", ""],
        ["210.52.109.0/24", "KP", CSV_SOURCE, "", ""],  # country KP, registered CN
        ["2001:db8::/32", "KP", CSV_SOURCE, "", ""],
    ]
    assert f"1 files neither .csv nor .mmdb (first at {archive}/" in result.stdout
    provenance = read_provenance(lists / "kp.csv")
    assert provenance is not None
    assert [s.name for s in provenance.sources] == [archive.name]


def test_quoted_names_and_loose_files(cli: Any, tmp_path: Path) -> None:
    """The quoted "Bonaire, Sint Eustatius, and Saba" stays one field: BQ is its code."""
    archive = write_geolite2_country_zip(tmp_path / "zip")
    loose = tmp_path / "loose"
    loose.mkdir()
    with zipfile.ZipFile(archive) as opened:
        for info in opened.infolist():
            if info.filename.endswith(".csv"):
                (loose / Path(info.filename).name).write_bytes(opened.read(info))
    lists = tmp_path / "lists"
    result = cli("--watchlists", lists, "watchlist", "import", "geolite2", loose,
                 "--name", "bq", "--country", "BQ", "--country", "DE")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert csv_rows(lists / "bq.csv") == [
        ["192.0.2.0/24", "BQ", "geolite2:GeoLite2-Country", "", ""],
        ["2001:db8:8000::/33", "DE", "geolite2:GeoLite2-Country", "", ""],
    ]


def test_asn_csv(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "GeoLite2-ASN-CSV_20190101"
    data.mkdir()
    (data / "GeoLite2-ASN-Blocks-IPv4.csv").write_text(ASN_BLOCKS_V4)
    lists = tmp_path / "lists"
    result = cli("--watchlists", lists, "watchlist", "import", "geolite2", data,
                 "--name", "star", "--asn", "131279")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    source = "geolite2:GeoLite2-ASN-CSV_20190101"
    assert csv_rows(lists / "star.csv") == [
        # A ";" in an organisation would split the note: it becomes ","
        ["77.94.35.0/24", "AS131279 Star JV, via a transit", source, "", ""],
        ["175.45.176.0/22", "AS131279 Ryugyong-dong", source, "", ""],
    ]


def _mmdb(path: Path, kind: str, networks: dict[str, dict[str, Any]]) -> Path:
    writer = MMDBWriter(ip_version=6, database_type=kind, ipv4_compatible=True)
    for network, record in networks.items():
        writer.insert_network(netaddr.IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


def test_mmdb_country_and_asn(cli: Any, tmp_path: Path) -> None:
    kp = {"iso_code": "KP", "geoname_id": 1873107}
    country = _mmdb(
        tmp_path / "GeoLite2-Country.mmdb",
        "GeoLite2-Country",
        {
            "175.45.176.0/22": {"country": kp, "registered_country": kp},
            "77.94.35.0/24": {"country": {"iso_code": "RU"}, "registered_country": kp},
            "192.0.2.0/24": {"country": {"iso_code": "JP"}, "registered_country": {"iso_code": "JP"}},
            "2001:db8::/32": {"country": kp},
        },
    )  # fmt: skip
    asn = _mmdb(
        tmp_path / "GeoLite2-ASN.mmdb",
        "GeoLite2-ASN",
        {
            "210.52.109.0/24": {"autonomous_system_number": 131279,
                                "autonomous_system_organization": "Star JV"},
            "198.51.100.0/24": {"autonomous_system_number": 64496,
                                "autonomous_system_organization": "Example"},
        },
    )  # fmt: skip
    lists = tmp_path / "lists"
    result = cli("--watchlists", lists, "watchlist", "import", "geolite2", country, asn,
                 "--name", "kp", "--country", "KP", "--asn", "131279")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert csv_rows(lists / "kp.csv") == [
        ["77.94.35.0/24", "KP registered", "geolite2:GeoLite2-Country.mmdb (GeoLite2-Country)", "", ""],
        ["175.45.176.0/22", "KP", "geolite2:GeoLite2-Country.mmdb (GeoLite2-Country)", "", ""],
        ["210.52.109.0/24", "AS131279 Star JV", "geolite2:GeoLite2-ASN.mmdb (GeoLite2-ASN)", "", ""],
        ["2001:db8::/32", "KP", "geolite2:GeoLite2-Country.mmdb (GeoLite2-Country)", "", ""],
    ]  # fmt: skip
    # Every network is visited once: IPv4 is not repeated through ::ffff:0:0/96 or 2002::/16.
    assert "4 ranges, 1,536 IPv4 addresses" in result.stdout


def test_second_source_for_the_same_country_adds_and_reports_disagreement(
    cli: Any, tmp_path: Path
) -> None:
    (rir,) = write_rir(tmp_path / "data")
    archive = write_geolite2_country_zip(tmp_path / "data")
    lists = tmp_path / "lists"
    base = ("--watchlists", lists, "watchlist", "import")
    assert cli(*base, "rir", rir, "--name", "kp", "--country", "KP").exit_code == 0
    result = cli(*base, "geolite2", archive, "--name", "kp", "--country", "KP")
    assert result.exit_code == 0, result.stderr
    assert "(4 kept from the existing file)" in result.stdout
    assert (
        "KP: 512 IPv4 addresses in GeoLite2-Country-CSV_20190101 but not in "
        "delegated-apnic-extended-latest, e.g. 77.94.35.0/24, 175.45.179.0/24"
    ) in result.stdout
    assert "but not in GeoLite2" not in result.stdout  # the RIR's ranges are all in GeoLite2
    table = csv_rows(lists / "kp.csv")
    assert ["175.45.176.0/22", "KP", CSV_SOURCE, "", ""] in table
    assert ["175.45.176.0/23", "KP", "rir:delegated-apnic-extended-latest", "2009-12-11", ""] in (
        table
    )
    provenance = read_provenance(lists / "kp.csv")
    assert provenance is not None
    assert [s.name for s in provenance.sources] == [rir.name, archive.name]
    # Importing the RIR file again replaces its rows, keeps GeoLite2's, and lists it once.
    again = cli(*base, "rir", rir, "--name", "kp", "--country", "KP")
    assert again.exit_code == 0 and "(4 kept from the existing file)" in again.stdout
    assert sorted(map(tuple, csv_rows(lists / "kp.csv"))) == sorted(map(tuple, table))
    provenance = read_provenance(lists / "kp.csv")
    assert provenance is not None and [s.name for s in provenance.sources] == [
        archive.name,
        rir.name,
    ]
    # --replace starts afresh.
    fresh = cli(*base, "rir", rir, "--name", "kp", "--country", "KP", "--replace")
    assert fresh.exit_code == 0 and len(csv_rows(lists / "kp.csv")) == 4


def test_bad_files_name_file_and_line(cli: Any, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    data = tmp_path / "data"
    data.mkdir()
    blocks = data / "GeoLite2-Country-Blocks-IPv4.csv"
    blocks.write_text(COUNTRY_BLOCKS_V4)
    base = ("--watchlists", lists, "watchlist", "import", "geolite2")
    orphan = cli(*base, blocks, "--name", "kp", "--country", "KP")
    assert orphan.exit_code == 1
    assert f"{blocks}:2: geoname_id 1873107 is in no locations file given" in orphan.stderr
    blocks.write_text(COUNTRY_BLOCKS_V4.replace("210.52.109.0/24", "210.52.109.0/33"))
    (data / "GeoLite2-Country-Locations-en.csv").write_text("geoname_id,locale_code,"
        "continent_code,continent_name,country_iso_code,country_name,is_in_european_union\n"
        '1873107,en,AS,Asia,KP,"North Korea",0\n')  # fmt: skip
    bad_network = cli(*base, data, "--name", "kp", "--country", "KP")
    assert bad_network.exit_code == 1 and f"{blocks}:3: network '210.52.109.0/33'" in (
        bad_network.stderr
    )
    other = data / "notes.csv"
    other.write_text("a,b\n1,2\n")
    wrong = cli(*base, other, "--name", "kp", "--country", "KP")
    assert wrong.exit_code == 1 and f"{other}:1: header 'a,b'" in wrong.stderr
    broken = tmp_path / "GeoLite2-Country.mmdb"
    broken.write_bytes(b"\x00" * 64)
    mmdb = cli(*base, broken, "--name", "kp", "--country", "KP")
    assert mmdb.exit_code == 1 and f"{broken}: not a MaxMind DB file" in mmdb.stderr
    assert mmdb.stderr.count("\n") == 1
    assert not lists.exists() or not any(lists.iterdir())
