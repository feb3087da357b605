"""``chainwatch watchlist import pfx2as`` (CAIDA RouteViews, gzip as published: multi-origin and
AS-set lines, IPv4 and IPv6 files) and ``... list`` (one address or CIDR per line)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from tests.imports.watchlist_data import csv_rows, write_pfx2as, write_rir

V4 = "pfx2as:routeviews-rv2-20190101-1200.pfx2as"
V6 = "pfx2as:routeviews-rv6-20190101-1200.pfx2as"


def test_any_origin_of_multi_origin_and_as_set_lines(cli: Any, tmp_path: Path) -> None:
    paths = write_pfx2as(tmp_path / "data")
    lists = tmp_path / "lists"
    result = cli("--watchlists", lists, "watchlist", "import", "pfx2as", *paths,
                 "--name", "star", "--asn", "131279", "--asn", "AS64499")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert csv_rows(lists / "star.csv") == [
        ["77.94.35.0/24", "AS131279", V4, "", ""],  # AS set 20485,131279
        ["175.45.176.0/22", "AS131279", V4, "", ""],
        ["198.51.100.0/24", "AS64499", V4, "", ""],  # 64497_64498,64499
        ["210.52.109.0/24", "AS131279", V4, "", ""],  # multi-origin 4837_131279
        ["2001:db8::/32", "AS131279", V6, "", ""],
    ]
    assert f"2 prefixes of other ASNs (first at {paths[0]}:4)" in result.stdout
    # An IPv4 and an IPv6 file of one snapshot do not disagree.
    assert "disagree" not in result.stdout


def test_pfx2as_against_rir_for_one_asn(cli: Any, tmp_path: Path) -> None:
    paths = write_pfx2as(tmp_path / "data")
    (rir,) = write_rir(tmp_path / "data")
    lists = tmp_path / "lists"
    base = ("--watchlists", lists, "watchlist", "import")
    assert cli(*base, "rir", rir, "--name", "star", "--asn", "131279").exit_code == 0
    result = cli(*base, "pfx2as", *paths, "--name", "star", "--asn", "131279")
    assert result.exit_code == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert (
        "AS131279: 768 IPv4 addresses in routeviews-rv2-20190101-1200.pfx2as but not in "
        "delegated-apnic-extended-latest, e.g. 77.94.35.0/24, 175.45.179.0/24, 210.52.109.0/24"
    ) in lines
    assert not any(
        line.startswith("AS131279: ") and "but not in routeviews" in line for line in lines
    )


def test_bad_pfx2as_line(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "routeviews-rv2-20190101-1200.pfx2as.gz"
    path.write_bytes(gzip.compress(b"175.45.176.0\t22\t131279\n210.52.109.0\t24\n"))
    lists = tmp_path / "lists"
    result = cli("--watchlists", lists, "watchlist", "import", "pfx2as", path, "--name", "x",
                 "--asn", "131279")  # fmt: skip
    assert result.exit_code == 1
    assert f"{path}:2: unexpected line '210.52.109.0\\t24'; expected prefix<TAB>length<TAB>AS" in (
        result.stderr
    )
    assert not (lists / "x.csv").exists()
    country = cli("--watchlists", lists, "watchlist", "import", "pfx2as", path, "--name", "x",
                  "--country", "KP")  # fmt: skip
    assert country.exit_code == 2 and "pfx2as has no countries" in country.stderr


def test_list_format(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "kp.txt"
    path.write_text(
        "# KP ranges named in public reporting\n"
        "175.45.176.0/22   # Star JV\n"
        "\n"
        "210.52.109.0/24\n"
        "2001:db8::1\n"
    )
    lists = tmp_path / "lists"
    result = cli("--watchlists", lists, "watchlist", "import", "list", path, "--name", "kp")
    assert result.exit_code == 0, result.stderr
    assert csv_rows(lists / "kp.csv") == [
        ["175.45.176.0/22", "Star JV", "list:kp.txt", "", ""],
        ["210.52.109.0/24", "", "list:kp.txt", "", ""],
        ["2001:db8::1/128", "", "list:kp.txt", "", ""],
    ]
    path.write_text("175.45.176.0/22\n192.0.2.1/24\n")
    bad = cli("--watchlists", lists, "watchlist", "import", "list", path, "--name", "kp2")
    assert bad.exit_code == 1 and f"{path}:2: '192.0.2.1/24': 192.0.2.1/24 has host bits set" in (
        bad.stderr
    )
    path.write_text("10.0.0.0/7\n")
    broad = cli("--watchlists", lists, "watchlist", "import", "list", path, "--name", "kp2")
    assert broad.exit_code == 1 and f"{path}:1: range 10.0.0.0/7 is broader than /8" in broad.stderr
    selected = cli("--watchlists", lists, "watchlist", "import", "list", path, "--name", "kp2",
                   "--country", "KP")  # fmt: skip
    assert selected.exit_code == 2
    assert not (lists / "kp2.csv").exists()
