"""The CSV watchlist form and validity windows (TOML and CSV): what spreadsheets and the
stdlib csv module write loads; every bad row is named with its file and line."""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainwatch.errors import WatchlistError
from chainwatch.watchlists import RangeMatcher, load_watchlists
from tests.watchlists import bigfiles

UTC = dt.UTC


def test_excel_style_csv_with_bom_crlf_and_quoting(tmp_path: Path) -> None:
    text = (
        "\ufeffcidr,note,source,valid_from,valid_to\r\n"
        '192.0.2.0/24,"office, main ""HQ""",RIR,2017-01-01,2017-03-31\r\n'
        "\r\n"
        '2001:db8::/32,"two\r\nlines",,,\r\n'
        "192.0.2.0/24,,,2018-01-01T06:00:00Z,2018-02-01T00:00:00+01:00\r\n"
        "198.51.100.0/24,,,,\r\n"
    )
    (tmp_path / "soc.csv").write_bytes(text.encode("utf-8"))
    (watchlist,) = load_watchlists(tmp_path).watchlists
    got = [(r.cidr, r.line, r.note, r.source, r.valid_from, r.valid_to) for r in watchlist.ranges]
    assert got == [
        (
            "192.0.2.0/24",
            2,
            'office, main "HQ"',
            "RIR",
            dt.datetime(2017, 1, 1, tzinfo=UTC),
            # a date valid_to lasts through the end of that day
            dt.datetime(2017, 3, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        ("2001:db8::/32", 4, "two\r\nlines", None, None, None),
        (
            "192.0.2.0/24",
            6,
            None,
            None,
            dt.datetime(2018, 1, 1, 6, tzinfo=UTC),
            dt.datetime(2018, 1, 31, 23, tzinfo=UTC),
        ),
        ("198.51.100.0/24", 7, None, None, None, None),
    ]
    assert [r.window for r in watchlist.ranges] == [
        "2017-01-01..2017-03-31",
        "",
        "2018-01-01T06:00:00Z..2018-01-31T23:00:00Z",
        "",
    ]


@pytest.mark.parametrize("quoting", [csv.QUOTE_ALL, csv.QUOTE_MINIMAL, csv.QUOTE_NONNUMERIC])
def test_csv_module_dialects_load(tmp_path: Path, quoting: int) -> None:
    rows = [
        ["cidr", "valid_to", "note"],  # columns in any order, some absent
        ["203.0.113.0/24", "2019-05-06", 'said "hi", twice'],
        ["2001:db8:1::/48", "", ""],
    ]
    with (tmp_path / "x.csv").open("w", newline="", encoding="utf-8-sig") as out:
        csv.writer(out, quoting=quoting).writerows(rows)
    (watchlist,) = load_watchlists(tmp_path).watchlists
    assert [(r.cidr, r.note, r.window) for r in watchlist.ranges] == [
        ("203.0.113.0/24", 'said "hi", twice', "..2019-05-06"),
        ("2001:db8:1::/48", None, ""),
    ]


HEADER = "cidr,note,source,valid_from,valid_to\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (HEADER + "192.0.2.0/24,,,,\n192.0.2.0/25,,\n", 3, "3 fields"),
        (HEADER + '192.0.2.0/24,"a\nb",,,\n10.0.0.300/24,,,,\n', 4, "bad CIDR '10.0.0.300/24'"),
        (HEADER + "192.0.2.1/24,,,,\n", 2, "host bits set"),
        (HEADER + "192.0.2.0/24,,,2017-13-01,\n", 2, "valid_from is '2017-13-01'"),
        (HEADER + "192.0.2.0/24,,,2017-01-01T00:00:00,\n", 2, "without a zone"),
        (HEADER + "192.0.2.0/24,,,2017-02-01,2017-01-31\n", 2, "is before valid_from"),
        (HEADER + "192.0.2.0/24,,,2017-01-01,\n192.0.2.0/24,,,2017-01-01,\n", 3, "duplicate"),
        (HEADER + '192.0.2.0/24,"open,,,\n', 2, "not CSV"),
        ("cidr,note,valid_until\n192.0.2.0/24,,\n", 1, "unknown column 'valid_until'"),
        ("note,source\nx,y\n", 1, "no cidr column"),
        (HEADER, None, "no ranges"),
        ("", None, "empty file"),
    ],
)
def test_bad_csv_names_file_and_line(
    tmp_path: Path, text: str, line: int | None, fragment: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(WatchlistError) as caught:
        load_watchlists(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:" if line else f"{path}:"), message
    assert fragment in message and "\n" not in message


def test_one_cidr_with_several_windows(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text(
        HEADER + "192.0.2.0/24,,,2017-01-01,2017-01-31\n192.0.2.0/24,,,2017-03-01,\n"
    )
    (watchlist,) = load_watchlists(tmp_path).watchlists
    assert [r.window for r in watchlist.ranges] == ["2017-01-01..2017-01-31", "2017-03-01.."]


def test_toml_ranges_take_windows(tmp_path: Path) -> None:
    (tmp_path / "kp.toml").write_text(
        '[[ranges]]\ncidr = "175.45.176.0/22"\nvalid_from = 2017-01-01\nvalid_to = "2017-12-31"\n'
        '[[ranges]]\ncidr = "210.52.109.0/24"\nvalid_from = 2018-01-01T12:00:00Z\n'
    )
    (watchlist,) = load_watchlists(tmp_path).watchlists
    assert [r.window for r in watchlist.ranges] == [
        "2017-01-01..2017-12-31",
        "2018-01-01T12:00:00Z..",
    ]
    (tmp_path / "kp.toml").write_text(
        '[[ranges]]\ncidr = "175.45.176.0/22"\n\n[[ranges]]\ncidr = "77.94.35.0/24"\n'
        "valid_to = 2017-01-01T00:00:00\n"
    )
    with pytest.raises(
        WatchlistError,
        match=r"kp\.toml:4 \(ranges #2\): valid_to is 2017-01-01T00:00:00 without a zone",
    ):
        load_watchlists(tmp_path)


def test_a_million_ranges_load_in_every_form(tmp_path: Path) -> None:
    """1,000,000 ranges (IPv4 and IPv6, nested, some dated): every range is what ipaddress
    reads, and the compiled matcher finds each sampled range's first address in it or in a
    more specific one, at a time inside its window."""
    ranges = bigfiles.cidrs(1_000_000)
    rng = random.Random(7)
    sample = rng.sample(range(len(ranges)), 3000)
    for form, write in (("csv", bigfiles.write_csv), ("txt", bigfiles.write_text)):
        directory = tmp_path / form
        directory.mkdir()
        write(directory / f"big.{form}", ranges)
        (watchlist,) = load_watchlists(directory).watchlists
        table = watchlist.table
        assert len(table) == len(ranges)
        assert [table.cidr(i) for i in sample] == [
            str(ipaddress.ip_network(ranges[i])) for i in sample
        ]
        matcher = RangeMatcher([watchlist])
        firsts = [str(ipaddress.ip_network(ranges[i]).network_address) for i in sample]
        inside = [dt.datetime(2018, 1, 15, tzinfo=UTC)] * len(sample)  # in every window
        found = matcher.match(firsts, inside).range_index
        assert (found >= 0).all()
        prefix: Any = table.prefix
        assert (prefix[found] >= prefix[np.array(sample)]).all()
        assert all(
            ipaddress.ip_address(a) in table.network(int(f))
            for a, f in zip(firsts, found, strict=True)
        )
        if form == "csv":
            dated = [i for i in sample if bigfiles.window(i)[0]]
            assert all(table.range(i).window for i in dated)
