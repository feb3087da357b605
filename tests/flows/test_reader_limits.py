"""The reader limits (``chainwatch.flows.limits``) in every text reader, read a block at a
time: an over-long line is one bad line wherever the blocks end and the lines after it keep
their numbers; a Zeek header met again switches the separator and columns; a gzip bomb
fails named; an IPv4-mapped or zoned address comes out canonical."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from chainwatch.errors import InputError
from chainwatch.flows import readers
from chainwatch.flows.inputs import describe
from chainwatch.flows.limits import Limits, guarded_reader, load_limits
from chainwatch.flows.readers import text as reader_text
from tests.flows.test_reader_blocks import read

UTC = dt.UTC
SMALL = Limits(max_record_bytes=300)
NFDUMP = "2017-05-17 10:00:{s:02d}.000,2017-05-17 10:00:01.000,1.0,175.45.176.5,198.51.100.7,{p},8333,TCP,.A....,0,0,2,100,0,0"
ZEEK_HEAD = (
    "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n"
)
ZEEK_ROW = "1495015200.0\tC{p}\t175.45.176.5\t{p}\t198.51.100.7\t8333\ttcp"


@pytest.mark.parametrize("block", [7, 64, 200, 4 << 20])
def test_an_overlong_line_is_one_bad_line_in_nfdump_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    path = tmp_path / "nf.csv"
    long = NFDUMP.format(s=1, p=2) + "," + "9" * 1000
    path.write_text("\n".join([NFDUMP.format(s=0, p=1), long, NFDUMP.format(s=2, p=3)]) + "\n")
    monkeypatch.setattr(reader_text, "BLOCK", block)
    got = read(lambda i: readers.read_nfdump_csv(i, SMALL), path)
    assert got["lines"] == [1, 3]
    assert got["examples"] == [(2, "is longer than 300 bytes")]
    assert got["bytes"] == path.stat().st_size


@pytest.mark.parametrize("block", [7, 64, 4 << 20])
def test_an_overlong_line_in_zeek_tsv_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(reader_text, "BLOCK", block)
    tsv = tmp_path / "conn.log"
    rows = [ZEEK_ROW.format(p=1), "x" * 1000, ZEEK_ROW.format(p=3)]
    tsv.write_text(ZEEK_HEAD + "\n".join(rows) + "\n")
    got = read(lambda i: readers.read_zeek(i, SMALL), tsv)
    assert (got["lines"], got["examples"]) == ([3, 5], [(4, "is longer than 300 bytes")])
    record = {"ts": 1495015200.0, "uid": "C1", "id.orig_h": "175.45.176.5", "id.orig_p": 1}
    record |= {"id.resp_h": "198.51.100.7", "id.resp_p": 8333, "proto": "tcp"}
    lines = [json.dumps(record), json.dumps(record | {"history": "x" * 1000}), json.dumps(record)]
    jsonl = tmp_path / "conn.json"
    jsonl.write_text("\n".join(lines) + "\n")
    got = read(lambda i: readers.read_zeek_json(i, SMALL), jsonl)
    assert (got["lines"], got["examples"]) == ([1, 3], [(2, "is longer than 300 bytes")])


@pytest.mark.parametrize("block", [7, 64, 4 << 20])
def test_a_zeek_header_again_switches_separator_and_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(reader_text, "BLOCK", block)
    path = tmp_path / "conn.log"
    second = (
        "#separator ,\n#fields,ts,proto,id.resp_h,id.resp_p,id.orig_h,id.orig_p\n"
        "1495015300.0,udp,198.51.100.8,53,175.45.176.6,40002\n"
    )
    path.write_text(ZEEK_HEAD + ZEEK_ROW.format(p=1) + "\n#close\tx\n" + second)
    got = read(readers.read_zeek, path)
    assert got["examples"] == []
    assert got["lines"] == [3, 7]
    assert [(r["src_ip"], r["src_port"], r["dst_ip"], r["proto"]) for r in got["rows"]] == [
        ("175.45.176.5", 1, "198.51.100.7", "tcp"),
        ("175.45.176.6", 40002, "198.51.100.8", "udp"),
    ]


def test_a_repeated_header_without_the_fields_a_conn_log_needs_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "conn.log"
    path.write_text(ZEEK_HEAD + ZEEK_ROW.format(p=1) + "\n#fields\tts\tquery\n1\tx\n")
    with pytest.raises(InputError, match=r"conn.log:4: Zeek log has no field id.orig_h"):
        read(readers.read_zeek, path)


def test_a_gzip_bomb_fails_named(tmp_path: Path) -> None:
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write(b"ts,src_ip,dst_ip,src_port,dst_port,proto\n")
        for _ in range(80):
            handle.write(bytes(1 << 20))
    with pytest.raises(InputError, match=r"bomb.csv.gz: inflates more than 500:1"):
        read(readers.read_csv, path)


def test_ordinary_gzip_and_cr_only_nfdump(tmp_path: Path) -> None:
    """A real-looking gzip passes the guard; CR-only nfdump CSV is read with line numbers."""
    rows = [NFDUMP.format(s=s % 60, p=s) for s in range(2000)]
    path = tmp_path / "nf.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    assert len(read(readers.read_nfdump_csv, path)["lines"]) == 2000
    mac = tmp_path / "mac.csv"
    mac.write_bytes("\r".join(rows[:3]).encode())
    got = read(readers.read_nfdump_csv, mac)
    assert got["lines"] == [1, 2, 3]
    assert describe(mac).size == got["bytes"]


def test_addresses_come_out_canonical(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto\n"
        "1495015200,::FFFF:175.45.176.5,2001:DB8:0:0:0:0:0:1%eth0,1,2,tcp\n"
        "1495015200,175.45.176.5,fe80::1%2,1,2,tcp\n"
    )
    got = read(readers.read_csv, path)
    assert [(r["src_ip"], r["dst_ip"]) for r in got["rows"]] == [
        ("175.45.176.5", "2001:db8::1"),
        ("175.45.176.5", "fe80::1"),
    ]


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(InputError, match=r"\$CHAINWATCH_EARLIEST: earliest is 'soon'"):
        load_limits(None, {"CHAINWATCH_EARLIEST": "soon"}, "f.toml")
    with pytest.raises(InputError, match="latest_ahead is '1 week'"):
        load_limits({"latest_ahead": "1 week"}, {}, "f.toml")
    with pytest.raises(InputError, match=r"unknown key limits\.max_line"):
        load_limits({"max_line": 5}, {}, "f.toml")
    assert load_limits({"earliest": dt.date(2001, 2, 3)}, {}, "f").earliest == dt.datetime(
        2001, 2, 3, tzinfo=UTC
    )


def test_the_guard_for_other_callers_keeps_the_bytes(tmp_path: Path) -> None:
    """``guarded_reader`` (for hashing a decoded stream, or a gzip capture): the bytes as
    decoded, CRs included, and the same expansion guard."""
    raw = b"\xd4\xc3\xb2\xa1\r\x00\rbinary\r" * 100
    path = tmp_path / "capture.pcap.gz"
    path.write_bytes(gzip.compress(raw))
    with guarded_reader(path, str(path)) as handle:
        assert handle.read() == raw
    bomb = tmp_path / "bomb.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        for _ in range(80):
            handle.write(bytes(1 << 20))
    with guarded_reader(bomb, "bomb.gz") as handle, pytest.raises(InputError, match="500:1"):
        while handle.read(1 << 20):
            pass


def test_counts_past_the_maximum_say_so(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n"
        "1495015200,192.0.2.1,198.51.100.7,1,2,tcp,17592186044416,1\n"  # 2**44: the maximum
        "1495015200,192.0.2.1,198.51.100.7,1,2,tcp,17592186044417,1\n"
        "1495015200,192.0.2.1,198.51.100.7,1,2,tcp,1,99999999999999999999999\n"
    )
    got = read(readers.read_csv, path)
    assert [r["bytes"] for r in got["rows"]] == [1 << 44]
    assert got["examples"] == [
        (3, "bytes is above 17592186044416"),
        (4, "packets is above 17592186044416"),
    ]
