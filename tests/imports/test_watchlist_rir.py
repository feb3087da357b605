"""``chainwatch watchlist import rir``: the RIRs' delegated and delegated-extended files through
the CLI, then a real scan that counts only the flows after a range's allocation date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from chainwatch.imports.output import read_provenance
from chainwatch.store.models import Event
from tests.flows.conftest import rows
from tests.imports.watchlist_data import APNIC, APNIC_EXTENDED, csv_rows, write_rir

SOURCE = "rir:delegated-apnic-extended-latest"


def test_country_selection_splits_counts_into_cidrs_and_dates_ranges(
    cli: Any, tmp_path: Path
) -> None:
    (path,) = write_rir(tmp_path / "data")
    lists = tmp_path / "lists"
    result = cli(
        "--watchlists", lists, "watchlist", "import", "rir", path, "--name", "kp", "--country", "kp"
    )
    assert result.exit_code == 0, result.stderr
    # 768 addresses from 175.45.176.0 are a /23 and a /24; IPv6's value is a prefix length.
    assert csv_rows(lists / "kp.csv") == [
        ["175.45.176.0/23", "KP", SOURCE, "2009-12-11", ""],
        ["175.45.178.0/24", "KP", SOURCE, "2009-12-11", ""],
        ["210.52.109.0/24", "KP", SOURCE, "2005-04-15", ""],
        ["2001:db8::/32", "KP", SOURCE, "2010-08-26", ""],
    ]
    out = result.stdout
    assert f"wrote {lists / 'kp.csv'}: 4 ranges, 1,024 IPv4 addresses" in out
    assert "span 2005-04-15..unbounded" in out
    # Lines passed over on purpose are counted with the first file:line of each kind.
    assert "1 version lines (first at " + str(path) + ":1)" in out
    assert "3 summary lines (first at " + str(path) + ":3)" in out
    assert "1 comment lines (first at " + str(path) + ":2)" in out
    assert "2 available or reserved ranges (first at " + str(path) + ":11)" in out
    assert "2 ranges of other countries (first at " + str(path) + ":10)" in out
    provenance = read_provenance(lists / "kp.csv")
    assert provenance is not None and provenance.kind == "watchlist"
    assert [s.name for s in provenance.sources] == ["delegated-apnic-extended-latest"]
    assert provenance.sources[0].size == len(APNIC_EXTENDED)
    assert provenance.span == ("2005-04-15", None)
    assert "--country=KP" in provenance.command


def test_non_power_of_two_count_and_unknown_date(cli: Any, tmp_path: Path) -> None:
    (path,) = write_rir(tmp_path / "data")
    lists = tmp_path / "lists"
    result = cli(
        "--watchlists", lists, "watchlist", "import", "rir", path, "--name", "au", "--country", "AU"
    )
    assert result.exit_code == 0, result.stderr
    # 1280 loopback addresses: a /22 and a /24; date 00000000 means unknown: no valid_from.
    assert csv_rows(lists / "au.csv") == [
        ["127.0.0.0/22", "AU", SOURCE, "2010-01-01", ""],
        ["127.0.4.0/24", "AU", SOURCE, "2010-01-01", ""],
        ["192.0.2.0/24", "AU", SOURCE, "", ""],
    ]
    assert "1,280 + 256" not in result.stdout and "1,536 IPv4 addresses" in result.stdout


def test_asn_selects_the_holders_ranges_through_opaque_ids(cli: Any, tmp_path: Path) -> None:
    (extended,) = write_rir(tmp_path / "data")
    plain = tmp_path / "data" / "delegated-apnic-latest"
    plain.write_text(APNIC)
    lists = tmp_path / "lists"
    result = cli(
        "--watchlists",
        lists,
        "watchlist",
        "import",
        "rir",
        extended,
        plain,
        "--name",
        "as131279",
        "--asn",
        "AS131279",
    )
    assert result.exit_code == 0, result.stderr
    assert [(r[0], r[1]) for r in csv_rows(lists / "as131279.csv")] == [
        ("175.45.176.0/23", "AS131279"),
        ("175.45.178.0/24", "AS131279"),
        ("2001:db8::/32", "AS131279"),
    ]
    # The plain file has no opaque-ids: --asn cannot select from it, and says so.
    assert (
        f"ranges --asn cannot select (no opaque-id: not an extended file) (first at {plain}:4)"
        in (result.stdout)
    )


def test_all_five_registries_together_and_both_forms_merge(cli: Any, tmp_path: Path) -> None:
    paths = write_rir(tmp_path / "data", all_registries=True)
    plain = tmp_path / "data" / "delegated-apnic-latest"
    plain.write_text(APNIC)
    lists = tmp_path / "lists"
    result = cli(
        "--watchlists",
        lists,
        "watchlist",
        "import",
        "rir",
        *paths,
        plain,
        "--name",
        "mixed",
        "--country",
        "KP",
        "--country",
        "RU",
        "--country",
        "DE",
        "--country",
        "US",
    )
    assert result.exit_code == 0, result.stderr
    table = {(r[0], r[3]): r for r in csv_rows(lists / "mixed.csv")}
    # The same range and date from both APNIC forms is one row naming both sources.
    assert table[("175.45.176.0/23", "2009-12-11")][2] == (
        "rir:delegated-apnic-extended-latest; rir:delegated-apnic-latest"
    )
    assert table[("77.94.35.0/24", "2007-05-08")][1:3] == [
        "RU",
        "rir:delegated-ripencc-extended-latest",
    ]
    assert table[("192.0.2.0/24", "1993-05-01")][1] == "US"
    assert table[("2001:db8:8000::/33", "2010-01-01")][1] == "DE"
    assert ("203.0.113.0/24", "2001-01-01") not in table  # ZA was not asked for
    # Complementary registries are not "disagreeing" sources.
    assert "disagree" not in result.stdout
    provenance = read_provenance(lists / "mixed.csv")
    assert provenance is not None and len(provenance.sources) == 6


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("apnic|KP|ipv4|175.45.176.0|abc|20091211|allocated|X", "is not a count of addresses"),
        ("apnic|KP|ipv4|175.45.176.0|256|20091341|allocated|X", "date '20091341'"),
        ("apnic|KP|ipv6|2001:db8::1|32|20100826|allocated|X", "has host bits set"),
        ("apnic|KP|ipv4|255.255.255.0|512|20100826|allocated|X", "run past 255.255.255.255"),
        ("apnic|KP|ipv4|175.45.176.0|256", "5 |-separated fields"),
        ("apnic|KP|ipv4|175.45.176.0|256|20100826|granted|X", "status 'granted'"),
        ("example|KP|ipv4|175.45.176.0|256|20100826|allocated|X", "registry 'example'"),
    ],
)
def test_bad_line_is_one_line_error_and_nothing_is_written(
    cli: Any, tmp_path: Path, line: str, problem: str
) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    good = write_rir(tmp_path / "data")[0]
    assert (
        cli(
            "--watchlists",
            lists,
            "watchlist",
            "import",
            "rir",
            good,
            "--name",
            "kp",
            "--country",
            "KP",
        ).exit_code
        == 0
    )
    before = (lists / "kp.csv").read_bytes()
    bad = tmp_path / "data" / "delegated-apnic-extended-broken"
    text = APNIC_EXTENDED.splitlines()
    text.insert(8, line)  # becomes line 9
    bad.write_text("\n".join(text) + "\n")
    result = cli(
        "--watchlists", lists, "watchlist", "import", "rir", bad, "--name", "kp", "--country", "KP"
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"chainwatch: error: {bad}:9: ") and problem in result.stderr
    assert result.stderr.count("\n") == 1
    assert (lists / "kp.csv").read_bytes() == before  # the earlier import is untouched
    assert sorted(p.name for p in lists.iterdir()) == ["kp.csv"]  # no temporary file left


def test_usage_errors(cli: Any, tmp_path: Path) -> None:
    (path,) = write_rir(tmp_path / "data")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "kp.toml").write_text('[[ranges]]\ncidr = "175.45.176.0/22"\n')
    base = ("--watchlists", lists, "watchlist", "import")
    no_selection = cli(*base, "rir", path, "--name", "all")
    assert no_selection.exit_code == 2 and "give --country CC or --asn N" in no_selection.stderr
    taken = cli(*base, "rir", path, "--name", "kp", "--country", "KP")
    assert taken.exit_code == 2 and "already holds watchlist 'kp'" in taken.stderr
    country = cli(*base, "rir", path, "--name", "x", "--country", "KPX")
    assert country.exit_code == 2 and "two-letter ISO code" in country.stderr
    fmt = cli(*base, "whois", path, "--name", "x", "--country", "KP")
    assert fmt.exit_code == 2 and "expected one of rir, geolite2, pfx2as, list" in fmt.stderr
    nothing = cli(*base, "rir", path, "--name", "x", "--country", "FR")
    assert nothing.exit_code == 1 and "no entries found" in nothing.stderr
    assert not (lists / "x.csv").exists()


FLOWS = [  # (ts, local address) -> 198.51.100.7:8333 (btc-p2p by port)
    ("2009-12-10T23:59:59Z", "175.45.176.5"),  # the day before the /23's allocation
    ("2009-12-11T00:00:00Z", "175.45.176.6"),  # its first instant
    ("2017-05-17T10:00:00Z", "175.45.178.7"),  # the /24 split from the 768
    ("2005-04-14T12:00:00Z", "210.52.109.8"),  # before that range's assignment
    ("2005-04-15T12:00:00Z", "210.52.109.9"),
]


def test_scan_counts_only_flows_after_the_allocation_date(
    cli: Any, db_url: str, tmp_path: Path
) -> None:
    (path,) = write_rir(tmp_path / "data")
    lists = tmp_path / "lists"
    imported = cli(
        "--watchlists", lists, "watchlist", "import", "rir", path, "--name", "kp", "--country", "KP"
    )
    assert imported.exit_code == 0, imported.stderr
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto\n"
        + "".join(f"{ts},{ip},198.51.100.7,40000,8333,tcp\n" for ts, ip in FLOWS)
    )
    result = cli("--db", db_url, "--watchlists", lists, "scan", "--flows", flows)
    assert result.exit_code == 0, result.stderr
    stored = sorted((e.local_ip, e.matched_cidr, e.observed_at) for e in rows(db_url, Event))
    utc = dt.UTC
    assert stored == [
        ("175.45.176.6", "175.45.176.0/23", dt.datetime(2009, 12, 11, tzinfo=utc)),
        ("175.45.178.7", "175.45.178.0/24", dt.datetime(2017, 5, 17, 10, tzinfo=utc)),
        ("210.52.109.9", "210.52.109.0/24", dt.datetime(2005, 4, 15, 12, tzinfo=utc)),
    ]
