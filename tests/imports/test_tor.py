"""``chainwatch catalog import tor-consensus`` and ``tor-exit-list`` through the CLI, with
documents written in dir-spec and TorDNSEL format, packed as CollecTor ships them."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path
from typing import Any

from tests.imports.helpers import make_tar, table
from tests.imports.tordocs import Exit, Relay, consensus, exit_list

JAN1 = dt.datetime(2019, 1, 1)
ALPHA = Relay("alpha", "192.0.2.1", 9001, 9030, "[2001:db8::1]:9001")
BETA = Relay("beta", "192.0.2.2", 443)
GAMMA = Relay("gamma", "198.51.100.3", 9001, exit=True)


def hourly(hours: range, present: dict[Relay, set[int]]) -> dict[str, bytes]:
    """CollecTor's layout: consensuses-YYYY-MM/DD/YYYY-MM-DD-HH-00-00-consensus, hourly;
    odd hours are microdescriptor consensuses (both flavours in one import)."""
    files = {}
    for hour in hours:
        when = JAN1 + dt.timedelta(hours=hour)
        relays = [r for r, hours_in in present.items() if hour in hours_in]
        stamp = when.strftime("%Y-%m-%d-%H-00-00")
        files[f"consensuses-2019-01/{when:%d}/{stamp}-consensus"] = consensus(
            when, relays, micro=hour % 2 == 1
        )
    return files


PRESENT = {
    ALPHA: set(range(10)),
    BETA: {0, 1, 2, 9},  # absent 3..8: its validity lapses 05:00..09:00, longer than 3 h
    GAMMA: {8, 9},
}


def test_consensus_archive_merges_hourly_documents(cli: Any, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "consensuses-2019-01.tar.xz", hourly(range(10), PRESENT))
    result = cli(
        "--watchlists",
        tmp_path / "w",
        "catalog",
        "import",
        "tor-consensus",
        archive,
        "--name",
        "tor",
    )
    assert result.exit_code == 0, result.stderr
    written = tmp_path / "w" / "endpoints" / "tor.csv"
    a, b, g = (f"tor/${r.identity.hex().upper()}~{r.nickname}" for r in (ALPHA, BETA, GAMMA))
    assert table(
        written, "name", "address", "port", "valid_from", "valid_to", "category", "source"
    ) == sorted(
        [
            (
                a,
                "192.0.2.1",
                "9001",
                "2019-01-01T00:00:00Z",
                "2019-01-01T12:00:00Z",
                "tor",
                archive.name,
            ),
            (
                a,
                "192.0.2.1",
                "9030",
                "2019-01-01T00:00:00Z",
                "2019-01-01T12:00:00Z",
                "tor",
                archive.name,
            ),
            (
                a,
                "2001:db8::1",
                "9001",
                "2019-01-01T00:00:00Z",
                "2019-01-01T12:00:00Z",
                "tor",
                archive.name,
            ),
            (
                b,
                "192.0.2.2",
                "443",
                "2019-01-01T00:00:00Z",
                "2019-01-01T05:00:00Z",
                "tor",
                archive.name,
            ),
            (
                b,
                "192.0.2.2",
                "443",
                "2019-01-01T09:00:00Z",
                "2019-01-01T12:00:00Z",
                "tor",
                archive.name,
            ),
            (
                g,
                "198.51.100.3",
                "9001",
                "2019-01-01T08:00:00Z",
                "2019-01-01T12:00:00Z",
                "tor",
                archive.name,
            ),
        ]
    )
    assert "wrote " in result.stdout and ": 6 rows (tor-consensus, tor)" in result.stdout
    assert "read       10 documents from 1 file" in result.stdout
    assert "entries    3" in result.stdout
    assert "addresses  4" in result.stdout
    assert "span       2019-01-01T00:00:00Z .. 2019-01-01T12:00:00Z" in result.stdout
    assert "skipped    0 lines" in result.stdout
    header = written.read_text().splitlines()[:4]
    assert header[0] == "# chainwatch catalog tor"
    assert header[1].endswith("catalog import tor-consensus")
    assert header[2].startswith(f"# source {archive.name} size={archive.stat().st_size} sha256=")
    assert header[3] == "# span 2019-01-01T00:00:00Z 2019-01-01T12:00:00Z"


def test_a_longer_gap_joins_the_absence(cli: Any, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "c.tar.xz", hourly(range(10), PRESENT))
    result = cli(
        "--watchlists",
        tmp_path,
        "catalog",
        "import",
        "tor-consensus",
        archive,
        "--name",
        "tor",
        "--gap",
        "4h",
    )
    assert result.exit_code == 0, result.stderr
    beta = [
        r
        for r in table(tmp_path / "endpoints" / "tor.csv", "address", "valid_from", "valid_to")
        if r[0] == "192.0.2.2"
    ]
    assert beta == [("192.0.2.2", "2019-01-01T00:00:00Z", "2019-01-01T12:00:00Z")]


def test_directory_out_of_order_and_plain_files(cli: Any, tmp_path: Path) -> None:
    """A directory of unpacked consensuses, given as two paths in reverse time order: the
    intervals do not depend on the order documents arrive in."""
    files = hourly(range(10), PRESENT)
    late, early = tmp_path / "late", tmp_path / "early"
    for i, (name, data) in enumerate(files.items()):
        target = (early if i < 5 else late) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    assert (
        cli(
            "--watchlists",
            tmp_path / "a",
            "catalog",
            "import",
            "tor-consensus",
            late,
            early,
            "--name",
            "t",
        ).exit_code
        == 0
    )
    archive = make_tar(tmp_path / "c.tar.xz", files)
    assert (
        cli(
            "--watchlists",
            tmp_path / "b",
            "catalog",
            "import",
            "tor-consensus",
            archive,
            "--name",
            "t",
        ).exit_code
        == 0
    )
    columns = ("name", "address", "port", "valid_from", "valid_to")
    assert table(tmp_path / "a" / "endpoints" / "t.csv", *columns) == table(
        tmp_path / "b" / "endpoints" / "t.csv", *columns
    )


def test_clipped_to_valid_from_and_valid_to(cli: Any, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "c.tar.xz", hourly(range(10), PRESENT))
    result = cli(
        "--watchlists",
        tmp_path,
        "catalog",
        "import",
        "tor-consensus",
        archive,
        "--name",
        "tor",
        "--valid-from",
        "2019-01-01T06:00:00Z",
        "--valid-to",
        "2019-01-01T10:00:00Z",
    )
    assert result.exit_code == 0, result.stderr
    assert table(
        tmp_path / "endpoints" / "tor.csv", "address", "port", "valid_from", "valid_to"
    ) == [
        ("192.0.2.1", "9001", "2019-01-01T06:00:00Z", "2019-01-01T10:00:00Z"),
        ("192.0.2.1", "9030", "2019-01-01T06:00:00Z", "2019-01-01T10:00:00Z"),
        ("192.0.2.2", "443", "2019-01-01T09:00:00Z", "2019-01-01T10:00:00Z"),
        ("198.51.100.3", "9001", "2019-01-01T08:00:00Z", "2019-01-01T10:00:00Z"),
        ("2001:db8::1", "9001", "2019-01-01T06:00:00Z", "2019-01-01T10:00:00Z"),
    ]


def test_damaged_entries_are_skipped_and_named(cli: Any, tmp_path: Path) -> None:
    good = consensus(JAN1, [ALPHA, BETA, GAMMA])
    damaged = good.replace(b" 192.0.2.2 443 0\n", b" 192.0.2.2 44x3 0\n").replace(
        b"a [2001:db8::1]:9001", b"a [2001:db8::zz]:9001"
    )
    path = tmp_path / "2019-01-01-00-00-00-consensus"
    path.write_bytes(damaged)
    result = cli(
        "--watchlists", tmp_path, "catalog", "import", "tor-consensus", path, "--name", "tor"
    )
    assert result.exit_code == 0, result.stderr
    lines = damaged.decode().splitlines()
    r_beta = next(i for i, line in enumerate(lines, 1) if line.startswith("r beta "))
    r_alpha = next(i for i, line in enumerate(lines, 1) if line.startswith("r alpha "))
    assert "skipped    2 lines" in result.stdout
    assert f"{path}:{r_beta}: damaged 'r' line" in result.stdout
    assert (
        f"{path}:{r_alpha + 1}: damaged 'a' line '[2001:db8::zz]:9001'; expected [IPv6]:PORT or IPv4:PORT"
        in result.stdout
    )
    assert table(tmp_path / "endpoints" / "tor.csv", "address", "port") == [
        ("192.0.2.1", "9001"),
        ("192.0.2.1", "9030"),
        ("198.51.100.3", "9001"),
    ]


def test_bad_documents_fail_whole_and_write_nothing(cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "endpoints" / "tor.csv"
    target.parent.mkdir()
    target.write_text("previous\n")
    files = hourly(range(3), PRESENT)
    # something that is not a Tor document at all in a consensus archive
    files["consensuses-2019-01/01/zz-notes"] = b"These are my notes\n"
    archive = make_tar(tmp_path / "c.tar.xz", files)
    result = cli(
        "--watchlists", tmp_path, "catalog", "import", "tor-consensus", archive, "--name", "tor"
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"chainwatch: error: {archive}/consensuses-2019-01/01/zz-notes:1: not a Tor consensus "
        "(first line 'These are my notes'); expected '@type network-status-consensus-3 1.0' "
        "or '@type network-status-microdesc-consensus-3 1.0'"
    )
    undated = consensus(JAN1, [ALPHA]).replace(
        b"valid-after 2019-01-01 00:00:00", b"valid-after soon"
    )
    (tmp_path / "undated").write_bytes(undated)
    result = cli(
        "--watchlists",
        tmp_path,
        "catalog",
        "import",
        "tor-consensus",
        tmp_path / "undated",
        "--name",
        "tor",
    )
    assert result.exit_code == 1
    assert (
        "undated:5: no readable valid-after line; expected valid-after YYYY-MM-DD HH:MM:SS"
        in result.stderr
    )
    data = make_tar(tmp_path / "big.tar.xz", hourly(range(10), PRESENT)).read_bytes()
    (tmp_path / "cut.tar.xz").write_bytes(data[: len(data) // 2])
    result = cli(
        "--watchlists",
        tmp_path,
        "catalog",
        "import",
        "tor-consensus",
        tmp_path / "cut.tar.xz",
        "--name",
        "tor",
    )
    assert result.exit_code == 1
    assert "cut.tar.xz" in result.stderr and "damaged archive or compressed data" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["tor.csv"]


def test_exit_lists_window_each_observation(cli: Any, tmp_path: Path) -> None:
    t0 = dt.datetime(2019, 3, 1, 10)
    first = exit_list(
        t0,
        [
            Exit("x1", t0, [("192.0.2.50", t0), ("192.0.2.51", t0)]),
            Exit("x2", t0, [("203.0.113.7", t0)]),
        ],
    )
    later = t0 + dt.timedelta(hours=12)
    second = exit_list(
        later,
        [
            Exit("x1", later, [("192.0.2.50", later)]),  # seen again within a day: one interval
            Exit(
                "x2", later + dt.timedelta(days=5), [("203.0.113.7", later + dt.timedelta(days=5))]
            ),
        ],
    )
    bad = exit_list(later, [Exit("x3", later, [("192.0.2.99", later)])]).replace(
        b"ExitAddress 192.0.2.99 2019-03-01 22:00:00", b"ExitAddress 192.0.2.99 yesterday noon"
    )
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "2019-03-01-10-02-00").write_bytes(first)
    (tmp_path / "exits" / "2019-03-01-22-02-00.gz").write_bytes(gzip.compress(second))
    (tmp_path / "exits" / "2019-03-01-22-03-00").write_bytes(bad)
    result = cli(
        "--watchlists",
        tmp_path,
        "catalog",
        "import",
        "tor-exit-list",
        tmp_path / "exits",
        "--name",
        "exits",
    )
    assert result.exit_code == 0, result.stderr
    x1, x2 = ("exits/$" + hashlib.sha1(n.encode()).hexdigest().upper() for n in ("x1", "x2"))
    assert table(
        tmp_path / "endpoints" / "exits.csv",
        "name",
        "address",
        "port",
        "valid_from",
        "valid_to",
        "category",
    ) == sorted(
        [
            (x1, "192.0.2.50", "", "2019-02-28T10:00:00Z", "2019-03-02T22:00:00Z", "tor"),
            (x1, "192.0.2.51", "", "2019-02-28T10:00:00Z", "2019-03-02T10:00:00Z", "tor"),
            (x2, "203.0.113.7", "", "2019-02-28T10:00:00Z", "2019-03-02T10:00:00Z", "tor"),
            (x2, "203.0.113.7", "", "2019-03-05T22:00:00Z", "2019-03-07T22:00:00Z", "tor"),
        ]
    )
    assert (
        f"{tmp_path / 'exits' / '2019-03-01-22-03-00'}:3: ExitAddress found time wasn't parsable"
        in result.stdout
    )
    assert "read       3 documents from 3 files" in result.stdout


def test_collector_microdescs_archive(cli: Any, tmp_path: Path) -> None:
    """CollecTor's microdescs-YYYY-MM.tar.xz holds the microdesc consensuses and the
    microdescriptors: the consensuses are read, the microdescriptors skipped and said so."""
    files = {
        f"microdescs-2019-01/consensus-microdesc/01/2019-01-01-{h:02d}-00-00-consensus-microdesc": consensus(
            JAN1 + dt.timedelta(hours=h), [ALPHA], micro=True
        )
        for h in range(3)
    }
    files["microdescs-2019-01/micro/2019/01/0/00/0a1b"] = (
        b"@type microdescriptor 1.0\nonion-key\n-----BEGIN RSA PUBLIC KEY-----\nAAAA\n"
        b"-----END RSA PUBLIC KEY-----\n"
    )
    archive = make_tar(tmp_path / "microdescs-2019-01.tar.xz", files)
    result = cli(
        "--watchlists", tmp_path, "catalog", "import", "tor-consensus", archive, "--name", "tor"
    )
    assert result.exit_code == 0, result.stderr
    assert table(
        tmp_path / "endpoints" / "tor.csv", "address", "port", "valid_from", "valid_to"
    ) == [
        ("192.0.2.1", "9001", "2019-01-01T00:00:00Z", "2019-01-01T05:00:00Z"),
        ("192.0.2.1", "9030", "2019-01-01T00:00:00Z", "2019-01-01T05:00:00Z"),
        ("2001:db8::1", "9001", "2019-01-01T00:00:00Z", "2019-01-01T05:00:00Z"),
    ]
    assert (
        f"{archive}/microdescs-2019-01/micro/2019/01/0/00/0a1b:1: a microdescriptor 1.0 document, "
        "not what this format reads: skipped" in result.stdout
    )
