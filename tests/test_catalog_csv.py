"""CSV catalogs (``watchlists/endpoints/NAME.csv``): awkward but valid files load the same by
both readers, many rows per name, inclusive windows, the ``coin`` key; every bad row is named
by file and line, in one line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from chainwatch.classify import Classifier
from chainwatch.errors import WatchlistError
from chainwatch.watchlists import load_watchlists

UTC = dt.UTC
HEADER = "name,category,coin,address,host,port,valid_from,valid_to,source\n"
PROVENANCE = (
    "# chainwatch catalog relays\n"
    "# imported 2026-11-27T20:00:00Z by chainwatch 0.1.0: catalog import tor-consensus\n"
    "# source consensuses-2019-01.tar.xz size=123456 sha256=" + "ab" * 32 + "\n"
    "# span 2019-01-01T00:00:00Z 2019-01-31T23:00:00Z\n"
)
ROWS = (
    "relay1,tor,,198.51.100.7,,9001,2019-01-01T00:00:00Z,2019-01-10T12:00:00Z,consensus\n"
    "relay1,tor,,198.51.100.7,,9001,2019-01-20,2019-01-31,consensus\n"
    "relay1,tor,,2001:db8::7,,9001,,,consensus\n"
    "pool-a,xmr-pool,xmr,203.0.113.0/28,,3333,,,list\n"
    "pool-a,xmr-pool,xmr,,pool.example.org,,2018-01-01,,list\n"
    "pool-b,pool,btc,,*.mine.example.org,,,,\n"
)


def write(directory: Path, name: str, data: str | bytes) -> Path:
    path = directory / "endpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def summary(directory: Path) -> list[tuple[object, ...]]:
    loaded = load_watchlists(directory)
    rows = loaded.endpoints.rows
    return [
        (
            loaded.endpoints[int(rows.endpoint[i])].name,
            int(rows.version[i]),
            int(rows.hi[i]) << 64 | int(rows.lo[i]),
            int(rows.prefix[i]),
            rows.hosts[int(rows.host[i])] if rows.host[i] >= 0 else None,
            int(rows.port[i]),
            int(rows.valid_from[i]),
            int(rows.valid_to[i]),
            int(rows.line[i]),
            rows.sources[int(rows.source[i])] if rows.source[i] >= 0 else None,
        )
        for i in range(len(rows))
    ]


def test_rows_endpoints_and_provenance_header(tmp_path: Path) -> None:
    write(tmp_path, "relays.csv", PROVENANCE + HEADER + ROWS)
    loaded = load_watchlists(tmp_path)
    (catalog,) = loaded.catalogs
    relay, pool_a, pool_b = catalog.endpoints
    assert [e.name for e in catalog.endpoints] == ["relay1", "pool-a", "pool-b"]
    assert (relay.category, relay.coin, relay.line, relay.source) == ("tor", None, 6, "consensus")
    assert (relay.valid_from, relay.valid_to) == (None, None)  # one row is open
    assert (pool_a.coin, pool_a.hosts) == ("xmr", ("pool.example.org",))
    # "pool" with a coin is that coin's pool.
    assert (pool_b.category, pool_b.coin, pool_b.hosts) == (
        "btc-pool",
        "btc",
        ("*.mine.example.org",),
    )
    rows = summary(tmp_path)
    assert [r[8] for r in rows] == [6, 7, 8, 9, 10, 11]  # lines count the # header
    assert rows[0][6:8] == (
        int(dt.datetime(2019, 1, 1, tzinfo=UTC).timestamp() * 1e6),
        int(dt.datetime(2019, 1, 10, 12, tzinfo=UTC).timestamp() * 1e6),
    )
    # A date valid_to is the whole day.
    end = dt.datetime(2019, 2, 1, tzinfo=UTC) - dt.timedelta(microseconds=1)
    assert rows[1][7] == int(end.timestamp() * 1e6)
    assert rows[3][1:4] == (4, 0xCB007100, 28) and rows[3][5] == 3333
    assert rows[2][1] == 6 and rows[4][5] == -1


def test_awkward_files_read_the_same(tmp_path: Path) -> None:
    """BOM, CRLF, every field quoted (Excel), doubled quotes, a quoted line break in a
    source, blank lines, columns in another order: the same rows as the plain file."""
    plain = tmp_path / "plain"
    write(plain, "c.csv", HEADER + ROWS)
    expected = summary(plain)

    def quoted(line: str) -> str:
        return ",".join(f'"{cell}"' for cell in line.split(","))

    excel = tmp_path / "excel"
    text = "\r\n".join(quoted(line) for line in (HEADER + ROWS).splitlines()) + "\r\n"
    write(excel, "c.csv", b"\xef\xbb\xbf" + text.encode())
    assert summary(excel) == expected

    blank = tmp_path / "blank"
    lines = (HEADER + ROWS).splitlines()
    write(blank, "c.csv", "\n".join([lines[0], "", *lines[1:]]) + "\n")
    assert [r[8] for r in summary(blank)] == [3, 4, 5, 6, 7, 8]
    assert [r[:8] for r in summary(blank)] == [r[:8] for r in expected]

    odd = tmp_path / "odd"
    write(
        odd,
        "c.csv",
        "source,address,name,category,host,port,valid_from,valid_to,coin\n"
        '"said ""hi""\nand left",198.51.100.9,q,vpn,,,,,\n'
        "x,192.0.2.1,r,tor,,,,,\n",
    )
    loaded = load_watchlists(odd)
    rows = loaded.endpoints.rows
    assert list(rows.sources[int(rows.source[0])].splitlines()) == ['said "hi"', "and left"]
    assert rows.line.tolist() == [2, 4]  # the row after a quoted line break
    assert [e.category for e in loaded.endpoints] == ["vpn", "tor"]


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("a,tor,,198.51.100.300,,,,,\n", 2, "bad CIDR '198.51.100.300'"),
        ("a,tor,,198.51.100.1,,,,,\na,tor,,198.51.100.1/24,,,,,\n", 3, "host bits set"),
        ("a,tor,,,,,,,\n", 2, "no address or host"),
        ("a,tor,,198.51.100.1,x.example.org,,,,\n", 2, "both address and host"),
        ("a,tor,,,bad host,,,,\n", 2, "bad host name 'bad host'"),
        ("a,tor,,,*.,,,,\n", 2, "bad host name"),
        ("a,tor,,198.51.100.1,,70000,,,\n", 2, "port is '70000'"),
        ("a,tor,,198.51.100.1,,,2019-02-30,,\n", 2, "valid_from is '2019-02-30'"),
        ("a,tor,,198.51.100.1,,,,2019-01-01T00:00:00,\n", 2, "without a zone"),
        ("a,tor,,198.51.100.1,,,2019-02-01,2019-01-01,\n", 2, "is before valid_from"),
        ("a,bch-pool,,198.51.100.1,,,,,\n", 2, "unknown category 'bch-pool'"),
        ("a,xmr-pool,doge,198.51.100.1,,,,,\n", 2, "coin 'doge' disagrees"),
        ("a,tor,xmr,198.51.100.1,,,,,\n", 2, "coin 'xmr' disagrees"),
        ("a,pool,bch,198.51.100.1,,,,,\n", 2, "unknown coin 'bch'"),
        ("a,tor,,198.51.100.1,,,,,\na,vpn,,198.51.100.2,,,,,\n", 3, "endpoint 'a' is 'vpn'"),
        (",tor,,198.51.100.1,,,,,\n", 2, "name is empty"),
        ("a,tor,,198.51.100.1,,,,\n", 2, "8 fields"),
        ('a,tor,,"198.51.100.1,,,,,,\n', 2, "not CSV"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    path = write(tmp_path, "bad.csv", HEADER + body)
    with pytest.raises(WatchlistError) as caught:
        load_watchlists(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}"), message
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", None, "empty file"),
        (HEADER, None, "no rows"),
        ("# only provenance\nname,category,cidr\n", 2, "unknown column 'cidr'"),
        ("name,address\n", 1, "header has no category column"),
        ("name,category,address,address\n", 1, "a column is named twice"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, line: int | None, fragment: str) -> None:
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(WatchlistError) as caught:
        load_watchlists(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}" if line else str(path)), message
    assert fragment in message


def test_names_unique_across_catalogs_and_files(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", HEADER + "relay1,tor,,198.51.100.1,,,,,\n")
    write(
        tmp_path,
        "b.toml",
        '[[endpoints]]\nname = "relay1"\ncategory = "tor"\nips = ["192.0.2.1"]\n',
    )
    with pytest.raises(WatchlistError, match="duplicate endpoint name 'relay1'"):
        load_watchlists(tmp_path)
    (tmp_path / "endpoints" / "b.toml").unlink()
    write(tmp_path, "a.toml", '[[endpoints]]\nname = "x"\ncategory = "tor"\nips = ["192.0.2.1"]\n')
    with pytest.raises(WatchlistError, match="duplicate catalog name 'a'"):
        load_watchlists(tmp_path)


def test_toml_coin_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.toml",
        'source = "a list"\n[[endpoints]]\nname = "p"\ncategory = "pool"\ncoin = "xmr"\n'
        'ips = ["203.0.113.5"]\n[[endpoints]]\nname = "q"\ncategory = "btc-pool"\n'
        'hosts = ["*.example.net"]\nsource = "own"\n',
    )
    p, q = load_watchlists(tmp_path).endpoints
    assert (p.category, p.coin, p.source) == ("xmr-pool", "xmr", "a list")
    assert (q.category, q.coin, q.source, q.hosts) == ("btc-pool", "btc", "own", ("*.example.net",))
    write(
        tmp_path,
        "p.toml",
        '[[endpoints]]\nname = "p"\ncategory = "tor"\ncoin = "xmr"\nips = ["203.0.113.5"]\n',
    )
    with pytest.raises(WatchlistError, match=r"p\.toml:1 .*coin 'xmr' disagrees"):
        load_watchlists(tmp_path)


def stamp(*parts: int) -> np.datetime64:
    return np.datetime64(dt.datetime(*parts), "us")  # type: ignore[arg-type]


def test_windows_inclusive_and_priority_by_file_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + "day,tor,,198.51.100.7,,,2019-01-05,2019-01-05,\n"
        + "instant,vpn,,198.51.100.0/24,,443,2019-01-06T10:00:00Z,2019-01-06T10:00:00Z,\n"
        + "wide,xmr-pool,,198.51.100.0/24,,,,,\n",
    )
    write(tmp_path, "b.csv", HEADER + "later,btc-pool,,198.51.100.7,,,,,\n")
    classifier = Classifier(load_watchlists(tmp_path).endpoints, {})
    times = np.array(
        [
            stamp(2019, 1, 5),
            stamp(2019, 1, 5, 23, 59, 59, 999999),
            stamp(2019, 1, 6),
            stamp(2019, 1, 6, 10),
            stamp(2019, 1, 6, 10, 0, 0, 1),
            np.datetime64("NaT", "us"),
        ]
    )
    got = classifier.classify(["198.51.100.7"] * 6, [443] * 6, times)
    assert list(got.endpoint) == ["day", "day", "wide", "instant", "wide", "wide"]
    assert list(got.category) == ["tor", "tor", "xmr-pool", "vpn", "xmr-pool", "xmr-pool"]
