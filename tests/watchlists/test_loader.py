"""Loading watchlists and catalogs: the shipped files load, and every bad file is named with
its line and what was expected."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chainwatch.errors import WatchlistError
from chainwatch.watchlists import load_watchlists

REPO = Path(__file__).resolve().parents[2]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_watchlists_load() -> None:
    loaded = load_watchlists(REPO / "watchlists")
    kp = loaded.get("kp")
    assert [r.cidr for r in kp.ranges] == ["175.45.176.0/22", "210.52.109.0/24", "77.94.35.0/24"]
    assert kp.source and "Recorded Future" in kp.source
    pools = {e.name: e for e in loaded.endpoints}
    assert pools["supportxmr"].category == "xmr-pool"
    assert all(e.hosts and not e.networks for e in pools.values()), (
        "shipped pools list host names only"
    )
    assert {e.category for e in pools.values()} >= {"btc-pool", "xmr-pool"}


def test_text_watchlist_with_comments(tmp_path: Path) -> None:
    write(tmp_path, "soc.txt", "# our ranges\n192.0.2.0/24  # office\n\n2001:db8::/32\n")
    (watchlist,) = load_watchlists(tmp_path).watchlists
    assert watchlist.name == "soc"
    assert [(r.cidr, r.line) for r in watchlist.ranges] == [
        ("192.0.2.0/24", 2),
        ("2001:db8::/32", 4),
    ]


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        (
            "bad.toml",
            '[[ranges]]\ncidr = "192.0.2.0/24"\n[[ranges]]\ncidr = "192.0.2.300/24"\n',
            3,
            "bad CIDR '192.0.2.300/24'",
        ),
        ("hostbits.toml", '[[ranges]]\ncidr = "192.0.2.1/24"\n', 1, "host bits set"),
        ("broad.toml", '[[ranges]]\ncidr = "10.0.0.0/7"\n', 1, "broader than /8"),
        ("broad6.toml", '[[ranges]]\ncidr = "2000::/15"\n', 1, "broader than /16"),
        (
            "dup.toml",
            '[[ranges]]\ncidr = "192.0.2.0/24"\n\n[[ranges]]\ncidr = "192.0.2.0/24"\n',
            4,
            "duplicate range",
        ),
        ("syntax.toml", 'description = "x"\n[[ranges]\ncidr = 1\n', 2, "not valid TOML"),
        ("typo.toml", '[[ranges]]\ncidr = "192.0.2.0/24"\nnotes = "x"\n', 1, "unknown key 'notes'"),
        ("empty.toml", 'description = "nothing"\n', None, "no [[ranges]]"),
        ("bad.txt", "192.0.2.0/24\n198.51.100.0/24 extra\n", 2, "unexpected text"),
        ("bad.cidr", "# header\n\n2001:db8::/33x\n", 3, "bad CIDR"),
    ],
)
def test_bad_watchlists_name_file_and_line(
    tmp_path: Path, name: str, text: str, line: int | None, fragment: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(WatchlistError) as caught:
        load_watchlists(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}" if line else str(path)), message
    assert fragment in message
    assert "\n" not in message


def test_allow_broad_is_explicit(tmp_path: Path) -> None:
    write(tmp_path, "wide.toml", '[[ranges]]\ncidr = "10.0.0.0/7"\nallow_broad = true\n')
    write(tmp_path, "wide6.txt", "2000::/15 allow_broad\n")
    loaded = load_watchlists(tmp_path)
    assert [w.ranges[0].cidr for w in loaded.watchlists] == ["10.0.0.0/7", "2000::/15"]


def test_duplicate_watchlist_names_refused(tmp_path: Path) -> None:
    write(tmp_path, "kp.toml", '[[ranges]]\ncidr = "192.0.2.0/24"\n')
    write(tmp_path, "kp.txt", "198.51.100.0/24\n")
    with pytest.raises(WatchlistError, match="duplicate watchlist name 'kp'"):
        load_watchlists(tmp_path)


CATALOG_OK = """
[[endpoints]]
name = "testpool"
category = "xmr-pool"
hosts = ["pool.example.org"]
ips = ["203.0.113.10"]
cidrs = ["198.51.100.0/28"]
ports = [3333, 5555]
valid_from = "2017-01-01"
valid_to = 2022-08-12
"""


def test_catalog_loads_with_dates_and_networks(tmp_path: Path) -> None:
    write(tmp_path, "w.txt", "192.0.2.0/24\n")
    write(tmp_path, "endpoints/pools.toml", CATALOG_OK)
    (endpoint,) = load_watchlists(tmp_path).endpoints
    assert endpoint.line == 2
    assert [str(n) for n in endpoint.networks] == ["203.0.113.10/32", "198.51.100.0/28"]
    assert endpoint.ports == {3333, 5555}
    assert (endpoint.valid_from, endpoint.valid_to) == (dt.date(2017, 1, 1), dt.date(2022, 8, 12))


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            '[[endpoints]]\nname = "a"\ncategory = "xmr-pool"\nips = ["203.0.113.1"]\n[[endpoints]]\nname = "b"\ncategory = "bch-pool"\nips = ["203.0.113.2"]\n',
            5,
            "unknown category 'bch-pool'",
        ),
        (
            '[[endpoints]]\nname = "a"\ncategory = "tor"\nips = ["203.0.113.999"]\n',
            1,
            "bad address",
        ),
        ('[[endpoints]]\nname = "a"\ncategory = "tor"\n', 1, "no hosts, ips or cidrs"),
        (
            '[[endpoints]]\nname = "a"\ncategory = "tor"\nhosts = ["no spaces allowed"]\n',
            1,
            "bad host name",
        ),
        (
            '[[endpoints]]\nname = "a"\ncategory = "vpn"\nips = ["203.0.113.1"]\nports = [0]\n',
            1,
            "ports is [0]",
        ),
        (
            '[[endpoints]]\nname = "a"\ncategory = "vpn"\nips = ["203.0.113.1"]\nvalid_from = "2020-13-01"\n',
            1,
            "valid_from",
        ),
        (
            '[[endpoints]]\nname = "a"\ncategory = "vpn"\nips = ["203.0.113.1"]\n[[endpoints]]\nname = "a"\ncategory = "tor"\nips = ["203.0.113.2"]\n',
            5,
            "duplicate endpoint name 'a'",
        ),
    ],
)
def test_bad_catalogs_name_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    write(tmp_path, "w.txt", "192.0.2.0/24\n")
    path = write(tmp_path, "endpoints/bad.toml", text)
    with pytest.raises(WatchlistError) as caught:
        load_watchlists(tmp_path)
    assert str(caught.value).startswith(f"{path}:{line}"), str(caught.value)
    assert fragment in str(caught.value)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="watchlists directory not found"):
        load_watchlists(tmp_path / "nope")
