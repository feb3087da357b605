"""Generic CSV through the real CLI: matching, classification, the two-direction rule, rollups,
bad lines, --strict, gzip, stdin, re-reads; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path
from typing import Any

from chainwatch.store.models import Event, Input, Rollup, RollupAddress
from tests.flows.conftest import rows, snapshot

UTC = dt.UTC
CSV = """ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets
2017-05-17T10:00:00Z,175.45.176.5,198.51.100.7,40001,8333,tcp,100,2
2017-05-17T10:00:00.5Z,198.51.100.7,175.45.176.5,8333,40001,tcp,200,3
1495015300,175.45.176.6,203.0.113.10,40002,3333,6,50,1
2017-05-17T11:05:00+01:00,198.51.100.8,175.45.176.7,5555,3333,tcp,70,1
2017-05-17T10:05:00Z,175.45.176.6,192.0.2.4,40003,443,tcp,10,1
2017-05-17T10:05:00Z,192.0.2.1,203.0.113.10,40003,3333,tcp,10,1
2017-05-17T10:06:00Z,2001:db8:1::5,198.51.100.99,40004,443,tcp,5,1
"""


def scan(cli: Any, db_url: str, wl: Path, *args: str, input: str | None = None) -> Any:
    return cli("--db", db_url, "--watchlists", wl, "scan", *args, input=input)


def test_csv_classified_and_rolled_up(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(CSV)
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "detected generic CSV" in result.stderr
    assert "read 7, watched 6, classified 4, stored 3, skipped 0, bad 0" in result.stdout

    events = rows(db_url, Event)
    got = [
        (
            e.local_ip,
            e.remote_ip,
            e.remote_port,
            e.direction,
            e.category,
            e.coin,
            e.detector,
            e.source_ref,
        )
        for e in events
    ]
    assert got == [
        ("175.45.176.5", "198.51.100.7", 8333, "outbound", "btc-p2p", "btc", "port", f"{path}:2"),
        (
            "175.45.176.6",
            "203.0.113.10",
            3333,
            "outbound",
            "xmr-pool",
            "xmr",
            "endpoint",
            f"{path}:4",
        ),
        ("2001:db8:1::5", "198.51.100.99", 443, "outbound", "tor", None, "endpoint", f"{path}:8"),
    ]
    line2 = CSV.splitlines()[1].encode()
    assert events[0].evidence_sha256 == hashlib.sha256(line2).hexdigest()
    assert events[0].observed_at == dt.datetime(2017, 5, 17, 10, 0, tzinfo=UTC)
    assert events[0].bytes == 100 and events[0].packets == 2
    assert events[1].observed_at == dt.datetime(2017, 5, 17, 10, 1, 40, tzinfo=UTC)
    assert events[0].confidence == 0.4 and events[1].confidence == 0.9
    (read,) = rows(db_url, Input)  # what is the same for all the input's events
    assert {(e.input_id, e.scan_id, e.last_seen_at, e.source) for e in events} == {
        (read.id, read.scan_id, None, "flows")
    }
    assert read.scan_id is not None
    assert all(abs(e.recorded_at - read.read_at) < dt.timedelta(seconds=5) for e in events)
    # the inbound record to a pool port is not a pool: a pool needs the catalog endpoint
    rollups = {
        (r.watchlist, r.category): (r.records, r.bytes, r.packets, r.events)
        for r in rows(db_url, Rollup)
    }
    assert rollups == {
        ("kp", "btc-p2p"): (2, 300, 5, 1),
        ("kp", "xmr-pool"): (1, 50, 1, 1),
        ("kp", "other"): (2, 80, 2, 0),
        ("doc", "tor"): (1, 5, 1, 1),
    }
    addresses = {(a.category, a.local_ip) for a in rows(db_url, RollupAddress)}
    assert ("other", "175.45.176.7") in addresses and ("other", "175.45.176.6") in addresses
    assert all(r.hour == dt.datetime(2017, 5, 17, 10, tzinfo=UTC) for r in rows(db_url, Rollup))


def test_rescan_skips_and_gzip_and_stdin_are_the_same_input(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(CSV)
    assert scan(cli, db_url, wl, "--flows", path).exit_code == 0
    before = snapshot(db_url)
    again = scan(cli, db_url, wl, "--flows", path)
    assert again.exit_code == 0 and "skipped 1" in again.stdout and "already read" in again.stderr
    piped = scan(cli, db_url, wl, "--flows", "-", input=CSV)
    assert piped.exit_code == 0 and "skipped 1" in piped.stdout  # same bytes, same SHA-256
    assert snapshot(db_url) == before

    zipped = tmp_path / "other.csv.gz"
    zipped.write_bytes(gzip.compress(CSV.replace("40001", "40009").encode()))
    result = scan(cli, db_url, wl, "--flows", zipped)
    assert result.exit_code == 0, result.stderr
    assert "stored 1," in result.stdout  # only the connection on the new port is new
    assert len(rows(db_url, Input)) == 2


def test_same_connection_in_two_files_is_one_event(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    header, forward, backward = CSV.splitlines()[:3]
    (tmp_path / "a.csv").write_text(f"{header}\n{forward}\n")
    (tmp_path / "b.csv").write_text(f"{header}\n{backward}\n")
    assert scan(cli, db_url, wl, "--flows", tmp_path / "a.csv").exit_code == 0
    result = scan(cli, db_url, wl, "--flows", tmp_path / "b.csv")
    assert "classified 1, stored 0" in result.stdout
    assert len(rows(db_url, Event)) == 1


def test_pairing_across_files_read_out_of_time_order(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """Only records up to the source's latest stored event (plus the pairing window) are
    looked up in the store: a later file holding an earlier connection's other direction
    still pairs, and one holding a new connection still counts."""
    header, forward, backward = CSV.splitlines()[:3]
    later = "2017-05-17T12:00:00Z,175.45.176.9,198.51.100.7,40009,8333,tcp,1,1"
    after = "2017-05-17T12:01:30Z,198.51.100.7,175.45.176.9,8333,40009,tcp,1,1"
    fresh = "2017-05-17T12:10:00Z,175.45.176.9,198.51.100.7,40010,8333,tcp,1,1"
    (tmp_path / "a.csv").write_text(f"{header}\n{forward}\n{later}\n")
    (tmp_path / "b.csv").write_text(f"{header}\n{backward}\n{after}\n{fresh}\n")
    assert scan(cli, db_url, wl, "--flows", tmp_path / "a.csv").exit_code == 0
    result = scan(cli, db_url, wl, "--flows", tmp_path / "b.csv")
    # backward pairs with forward (10:00, far behind the latest stored event); after starts
    # 90 s past later, in the next 60 s bucket, so it pairs too: the horizon must reach that
    # far. fresh is a new connection beyond the horizon.
    assert "classified 3, stored 1" in result.stdout, result.stdout
    assert len(rows(db_url, Event)) == 3


def test_bad_lines_counted_shown_and_skipped(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    lines = CSV.splitlines()
    hostile = [
        lines[0],
        lines[1],
        "garbage",
        "2017-05-17T10:00:00Z,175.45.176.5,not-an-ip,1,2,tcp,1,1",
        "2017-05-17T10:00:00Z,175.45.176.5,198.51.100.7,99999,8333,tcp,1,1",
        "2017-05-17T10:00:00,175.45.176.5,198.51.100.7,1,8333,tcp,1,1",  # no zone
        "2017-13-45T10:00:00Z,175.45.176.5,198.51.100.7,1,8333,tcp,1,1",
        "2017-05-17T10:00:00Z,175.45.176.5,198.51.100.7,1,8333,tcp,lots,1",
        lines[3],
    ]
    path = tmp_path / "bad.csv"
    path.write_bytes(
        ("\r\n".join(hostile) + "\r\n").encode()
        + b"\xff\xfe,bad utf8\r\n"
        + b"2017-05-17T10:00:00Z,175.45.176.5,198.51.100.7,1,8333,t\x00cp,1,1\r\n"
    )
    strict = scan(cli, db_url, wl, "--strict", "--flows", path)
    assert strict.exit_code == 1
    assert f"error: {path}:3: expected 8 fields" in strict.stderr, strict.stderr
    assert rows(db_url, Event) == [] and rows(db_url, Input) == []  # nothing of the file stored

    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "read 10, watched 2, classified 2, stored 2, skipped 0, bad 8" in result.stdout
    assert f"{path}:3: expected 8 fields" in result.stderr
    assert f"{path}:4: " in result.stderr
    assert f"{path}: 8 malformed lines skipped" in result.stderr
    assert "Traceback" not in result.stderr


def test_awkward_inputs_give_one_line_errors(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text(CSV.splitlines()[0] + "\n")
    no_columns = tmp_path / "cols.csv"
    no_columns.write_text("ts,src_ip,dst_ip\n2017-05-17T10:00:00Z,175.45.176.5,198.51.100.7\n")
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(gzip.compress((CSV * 200).encode())[:-30])
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("hello world\n")
    cases = {
        empty: "is empty",
        no_columns: "has no columns src_port, dst_port, proto",
        truncated: "truncated gzip",
        nothing: "holds no flow files",
        unknown: "is not a flow format chainwatch knows",
    }
    for path, message in cases.items():
        result = scan(cli, db_url, wl, "--flows", path)
        assert result.exit_code == 1, (path, result.stdout, result.stderr)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
        assert len(failed) == 1
    ok = scan(cli, db_url, wl, "--flows", header_only)
    assert ok.exit_code == 0 and "read 0" in ok.stdout
    assert rows(db_url, Event) == []


def test_directory_with_one_bad_file_is_partial(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "a.csv").write_text(CSV)
    (directory / "b.csv").write_text("")
    (directory / "nfcapd.current.123").write_bytes(b"\x0c\xa5 in progress")
    result = scan(cli, db_url, wl, "--flows", directory)
    assert result.exit_code == 3, result.stderr
    assert "b.csv: is empty" in result.stderr
    assert "stored 3" in result.stdout
