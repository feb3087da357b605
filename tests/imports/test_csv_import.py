"""``chainwatch catalog import csv``: catalog CSVs merged, re-categorised and re-dated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.imports.helpers import COLUMNS, table

FIRST = (
    "# chainwatch catalog old\n"
    "# imported 2026-11-27T20:00:00Z by chainwatch 0.1.0: catalog import list\n"
    f"{COLUMNS}\n"
    "supportxmr,xmr-pool,xmr,203.0.113.10,,3333,2017-01-01,2022-08-12,report A\n"
    "supportxmr,xmr-pool,,,POOL.example.org.,,2017-01-01T00:00:00+00:00,,\n"
)
SECOND = (  # columns in another order, one duplicate of FIRST, and bad rows
    "address,name,category,port,valid_to,valid_from,host,coin,source\n"
    "203.0.113.10,supportxmr,xmr-pool,3333,2022-08-12,2017-01-01,,xmr,report A\n"
    "198.51.100.0/24,tor-relays,tor,9001,,,,,\n"
    ",,tor,,,,x.example.org,,\n"
    "192.0.2.5,both,tor,,,,x.example.org,,\n"
    "192.0.2.6,late,tor,,2019-01-01,2019-02-01,,,\n"
    "192.0.2.7,wrongcoin,xmr-pool,,,,,btc,\n"
    "192.0.2.8,badport,tor,70000,,,,,\n"
    "192.0.2.9,supportxmr,tor,,,,,,\n"
)


def test_merge_two_catalogs(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(FIRST)
    (tmp_path / "b.csv").write_text(SECOND)
    result = cli(
        "--watchlists",
        tmp_path / "w",
        "catalog",
        "import",
        "csv",
        tmp_path / "a.csv",
        tmp_path / "b.csv",
        "--name",
        "merged",
    )
    assert result.exit_code == 0, result.stderr
    assert table(tmp_path / "w" / "endpoints" / "merged.csv", *COLUMNS.split(",")) == [
        (
            "supportxmr",
            "xmr-pool",
            "xmr",
            "",
            "pool.example.org",
            "",
            "2017-01-01T00:00:00Z",
            "",
            "a.csv",
        ),
        (
            "supportxmr",
            "xmr-pool",
            "xmr",
            "203.0.113.10",
            "",
            "3333",
            "2017-01-01",
            "2022-08-12",
            "report A",
        ),
        ("tor-relays", "tor", "", "198.51.100.0/24", "", "9001", "", "", "b.csv"),
    ]
    b = tmp_path / "b.csv"
    for line, why in (
        (5, "needs one of address and host"),
        (6, "valid_from is after valid_to"),
        (7, "coin 'btc' does not agree with category 'xmr-pool'"),
        (8, "port '70000' is not 1-65535"),
        (9, f"'supportxmr' is tor/- here but xmr-pool/xmr at {tmp_path / 'a.csv'}:4"),
    ):
        assert f"{b}:{line}: {why}" in result.stdout
    assert f"{b}:4: empty name" in result.stdout
    assert "skipped    6 lines" in result.stdout
    assert "entries    2" in result.stdout


def test_redate_and_recategorise(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(FIRST)
    result = cli(
        "--watchlists",
        tmp_path,
        "catalog",
        "import",
        "csv",
        tmp_path / "a.csv",
        "--name",
        "redated",
        "--category",
        "pool",
        "--valid-from",
        "2018-06-01",
        "--valid-to",
        "2018-06-30T12:00:00+02:00",
    )
    assert result.exit_code == 0, result.stderr
    assert table(
        tmp_path / "endpoints" / "redated.csv", "category", "coin", "valid_from", "valid_to"
    ) == [
        ("pool", "", "2018-06-01", "2018-06-30T10:00:00Z"),
        ("pool", "", "2018-06-01", "2018-06-30T10:00:00Z"),
    ]
    assert "span       2018-06-01 .. 2018-06-30T10:00:00Z" in result.stdout


def test_unknown_column_is_an_error(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "# hand-written\nname,category,address,valid_untill\nx,tor,192.0.2.1,2019-01-01\n"
    )
    result = cli("--watchlists", tmp_path, "catalog", "import", "csv", path, "--name", "x")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"chainwatch: error: {path}:2: unknown column 'valid_untill'; expected a header of {COLUMNS}"
    )
