"""CSV as the field writes it, through the real CLI on SQLite and PostgreSQL: Python's csv module
with each quoting style, a spreadsheet's byte order mark and CRLF, pandas' ``to_csv``, nfdump
CSV saved again with quotes; fields holding separators, quotes and line breaks. Events cite the
line a record starts on and hash the record's bytes as read. An input of which not one record
could be used makes the scan partial; one with some good records does not."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import Event, Input
from tests.flows.conftest import rows

HEADER = ["ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "bytes", "packets", "note"]
# (values, the line the record starts on in the file); notes with separators, quotes, breaks
RECORDS: list[tuple[list[Any], int]] = [
    (["2017-05-17T10:00:00Z", "175.45.176.5", "198.51.100.7", 40001, 8333, "tcp", 100, 2, "-"], 2),
    (
        [1495015300, "175.45.176.6", "203.0.113.10", 40002, 3333, "tcp", 50, 1, 'pool, "x"\nok'],
        3,  # the note's line break: this record takes lines 3 and 4
    ),
    (
        [
            "2017-05-17T10:06:00Z",
            "2001:db8:1::5",
            "198.51.100.99",
            40004,
            443,
            "tcp",
            5,
            1,
            ",\r\n",
        ],
        5,
    ),
    ([1495015400.5, "192.0.2.1", "198.51.100.7", 40005, 8333, "udp", 1, 1, '""'], 7),
]
EXPECTED = [  # local, remote, remote port, category, bytes, line
    ("175.45.176.5", "198.51.100.7", 8333, "btc-p2p", 100, 2),
    ("175.45.176.6", "203.0.113.10", 3333, "xmr-pool", 50, 3),
    ("2001:db8:1::5", "198.51.100.99", 443, "tor", 5, 5),
]
STYLES = {
    "QUOTE_ALL, CRLF, BOM (Excel's CSV UTF-8)": (csv.QUOTE_ALL, "\r\n", "utf-8-sig"),
    "QUOTE_NONNUMERIC, LF": (csv.QUOTE_NONNUMERIC, "\n", "utf-8"),
    "QUOTE_MINIMAL, CRLF": (csv.QUOTE_MINIMAL, "\r\n", "utf-8"),
}


def scan(cli: Any, db_url: str, wl: Path, *args: Any) -> Any:
    return cli("--db", db_url, "--watchlists", wl, "scan", *args)


def written(rows_: list[list[Any]], quoting: int, ending: str) -> list[str]:
    """Each row as Python's csv module writes it (without its line end)."""
    out = []
    for row in rows_:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, quoting=quoting, lineterminator=ending).writerow(row)
        out.append(buffer.getvalue()[: -len(ending)])
    return out


def stored(db_url: str, path: Path) -> list[tuple[Any, ...]]:
    events = sorted(rows(db_url, Event), key=lambda e: e.source_ref)
    refs = [e.source_ref for e in events]
    assert all(ref.startswith(f"{path}:") for ref in refs), refs
    return [
        (e.local_ip, e.remote_ip, e.remote_port, e.category, e.bytes, int(ref.rsplit(":", 1)[1]))
        for e, ref in zip(events, refs, strict=True)
    ]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_python_csv_module_quoting_styles(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, style: str
) -> None:
    quoting, ending, encoding = STYLES[style]
    lines = written([HEADER] + [values for values, _ in RECORDS], quoting, ending)
    path = tmp_path / "flows.csv"
    path.write_bytes(ending.join(lines).encode(encoding) + ending.encode())
    if quoting != csv.QUOTE_MINIMAL:
        assert lines[1].startswith('"2017-05-17T10:00:00Z","175.45.176.5"')
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "detected generic CSV" in result.stderr
    assert "scan 1 ok: read 4, watched 3, classified 3, stored 3, skipped 0, bad 0" in result.stdout
    assert stored(db_url, path) == EXPECTED
    # the evidence is each record's bytes as read: quotes, doubled quotes and line breaks
    digests = {
        line: hashlib.sha256(text.encode()).hexdigest()
        for text, (_, line) in zip(lines[1:], RECORDS, strict=True)
    }
    events = rows(db_url, Event)
    assert {int(e.source_ref.rsplit(":", 1)[1]): e.evidence_sha256 for e in events} == {
        line: digests[line] for *_, line in EXPECTED
    }
    (read,) = rows(db_url, Input)
    assert (read.records, read.watched, read.bad) == (4, 3, 0)


# What pandas' DataFrame(...).to_csv(path) writes for these records: its index as a first,
# unnamed column, QUOTE_MINIMAL, LF line ends.
PANDAS = (
    ",ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets,note\n"
    "0,2017-05-17T10:00:00Z,175.45.176.5,198.51.100.7,40001,8333,tcp,100,2,-\n"
    '1,1495015300,175.45.176.6,203.0.113.10,40002,3333,tcp,50,1,"pool, ""x""\nok"\n'
    '2,2017-05-17T10:06:00Z,2001:db8:1::5,198.51.100.99,40004,443,tcp,5,1,",\r\n"\n'
    '3,1495015400.5,192.0.2.1,198.51.100.7,40005,8333,udp,1,1,""""""\n'
)


def test_pandas_to_csv(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    path = tmp_path / "frame.csv"
    try:
        import pandas  # type: ignore[import-untyped]  # not a dependency: used when present
    except ImportError:
        path.write_text(PANDAS, newline="")
    else:
        frame = pandas.DataFrame([values for values, _ in RECORDS], columns=HEADER)
        frame.to_csv(path)
        assert path.read_text(newline="") == PANDAS
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "read 4, watched 3, classified 3, stored 3, skipped 0, bad 0" in result.stdout
    assert stored(db_url, path) == EXPECTED


NFDUMP = [
    line.split(",")
    for line in (
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt",
        "2017-05-17 10:00:00,2017-05-17 10:00:01,1.000,175.45.176.6,203.0.113.10,40002,3333,TCP,"
        "...AP.S.,0,0,4,320,0,0",
        "2017-05-17 10:00:05,2017-05-17 10:00:05,0.000,192.0.2.1,198.51.100.7,40006,8333,TCP,"
        "...A....,0,0,1,52,0,0",
        "2017-05-17 10:00:09,2017-05-17 10:00:09,0.000,175.45.176.5,198.51.100.7,40001,8333,TCP,"
        "...A....,0,0,1,52,0,0",
        "Summary",
        "flows,bytes,packets,avg_bps,avg_pps,avg_bpp",
        "3,424,6,0,0,70",
    )
]


def test_nfdump_csv_saved_again_with_quotes(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """nfdump's CSV opened in a spreadsheet and saved again: every field quoted, CRLF, BOM."""
    lines = written(NFDUMP, csv.QUOTE_ALL, "\r\n")
    path = tmp_path / "nfdump.csv"
    path.write_bytes("\r\n".join(lines).encode("utf-8-sig") + b"\r\n")
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert "detected nfdump CSV" in result.stderr
    assert "read 3, watched 2, classified 2, stored 2, skipped 0, bad 0" in result.stdout
    assert stored(db_url, path) == [
        ("175.45.176.6", "203.0.113.10", 3333, "xmr-pool", 320, 2),
        ("175.45.176.5", "198.51.100.7", 8333, "btc-p2p", 52, 4),
    ]
    # and without the header, as nfdump -q writes it
    quiet = tmp_path / "quiet.csv"
    quiet.write_bytes("\r\n".join(lines[1:4]).encode("utf-8-sig") + b"\r\n")
    again = scan(cli, db_url, wl, "--format", "nfdump", "--flows", quiet)
    assert again.exit_code == 0, again.stderr
    assert "read 3, watched 2, classified 2, stored 0, skipped 0, bad 0" in again.stdout


def test_stray_quotes_cost_one_line(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """A quote inside a plain field is a quote (as the csv module reads it); a quote that
    opens a field and is never closed makes its line bad, and the lines after it are read."""
    row = "2017-05-17T10:0{0}:00Z,175.45.176.9,198.51.100.7,4000{0},8333,tcp,1,1,{1}\n"
    path = tmp_path / "stray.csv"
    path.write_text(
        ",".join(HEADER)
        + "\n"
        + row.format(2, '5" disk')
        + row.format(3, '"open')
        + row.format(4, "fine")
        + row.format(5, "fine")
    )
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 0, result.stderr
    assert f"{path}:3: has a quoted field that is not closed" in result.stderr
    assert "read 4, watched 3, classified 3, stored 3, skipped 0, bad 1" in result.stdout
    assert [e.source_ref for e in rows(db_url, Event)] == [f"{path}:{n}" for n in (2, 4, 5)]


def test_only_bad_lines_is_partial(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """The issue's case: a quoted file read as if quotes were data had every line refused and
    still said ok. Now: a file of which no line can be used is a partial scan (exit 3); a file
    with some good lines, or none at all, is not."""
    path = tmp_path / "bad.csv"
    path.write_text(",".join(HEADER) + "\n" + "yesterday,x,y,1,2,tcp,1,1,\n" * 3)
    result = scan(cli, db_url, wl, "--flows", path)
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "scan 1 partial: read 3, watched 0, classified 0, stored 0, skipped 0, bad 3" in (
        result.stdout
    )
    assert f"{path}:2: time is not epoch seconds or ISO-8601 with a zone" in result.stderr
    assert f"{path}: not one record could be used" in result.stderr
    (read,) = rows(db_url, Input)  # read, and recorded as read: a rescan skips it
    assert (read.records, read.bad) == (0, 3)

    mixed = tmp_path / "mixed.csv"
    good = written([RECORDS[0][0]], csv.QUOTE_ALL, "\n")[0]
    mixed.write_text(",".join(HEADER) + "\n" + "garbage\n" + good + "\n")
    result = scan(cli, db_url, wl, "--flows", mixed)
    assert result.exit_code == 0, result.stderr
    assert "scan 2 ok: read 2, watched 1, classified 1, stored 1, skipped 0, bad 1" in (
        result.stdout
    )

    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(HEADER) + "\r\n")
    result = scan(cli, db_url, wl, "--flows", header_only)
    assert result.exit_code == 0, result.stderr
    assert "scan 3 ok: read 0" in result.stdout

    directory = tmp_path / "dir"  # one good input and one unusable: partial too
    directory.mkdir()
    (directory / "a.csv").write_text(",".join(HEADER) + "\n" + "garbage\n")
    (directory / "b.csv").write_text(
        ",".join(HEADER) + "\n" + good.replace("40001", "40009") + "\n"
    )
    result = scan(cli, db_url, wl, "--flows", directory)
    assert result.exit_code == 3, result.stderr
    assert "scan 4 partial:" in result.stdout and "stored 1," in result.stdout
