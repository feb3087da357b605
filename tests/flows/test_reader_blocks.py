"""The text readers on awkward bytes, read a block at a time: line numbers, evidence hashes,
bad-line reasons and values must not depend on where the blocks end, and the quick path for
common rows must give exactly what the exact converters give."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chainwatch.flows import dialect, readers
from chainwatch.flows.inputs import FlowInput, describe, split_lines
from chainwatch.flows.limits import Limits
from chainwatch.flows.readers import convert
from chainwatch.flows.readers import text as reader_text
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.csv_readers import NFDUMP_FMT_NAMES, nfdump_index
from chainwatch.observations import Batch

UTC = dt.UTC
Reader = Callable[[FlowInput], Iterator[Batch]]

HEADER = b"ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets"
# Line by line: CRLF, blank lines (CRLF only, CRs only, white space only), missing values,
# a line that is not UTF-8, a NUL byte, values with spaces around them, bad values, and a
# last line without a newline.
AWKWARD = [
    HEADER + b"\r\n",
    b"1495015200.5,192.0.2.1,198.51.100.7,40001,8333,tcp,100,2\r\n",
    b"\r\n",
    b"\r\r\n",
    b"  \t\r\n",
    b"2017-05-17T10:00:00Z,192.0.2.2,198.51.100.7,40002,8333,6,-,\r\r\n",
    b"1495015200,\xff\xfe,198.51.100.7,1,2,tcp,1,1\r\n",
    b"2017-05-17T10:00:00Z,192.0.2.3,198.51.100.7,40003,8333,t\x00cp,1,1\r\n",
    b" 1495015201 , 192.0.2.4 ,198.51.100.7,40004,8333, TCP ,5,1\r\n",
    b"1495015202,192.0.2.5,198.51.100.7,99999,8333,tcp,1,1\n",
    b"1495015203,192.0.2.6,198.51.100.7,0x1f,8333,tcp,1,1\n",
    b"2017-13-45T10:00:00Z,192.0.2.7,198.51.100.7,1,8333,tcp,1,1\n",
    b"\xff\n",
    b"1495015204,192.0.2.8,198.51.100.7,40008,8333,udp,7,1",
]
EIGHT = "expected 8 fields separated by ','"


def read(reader: Reader, path: Path, start: int = 0) -> dict[str, Any]:
    """Everything the reader gives for ``path``, batches joined."""
    flow_input = describe(path)
    if start:
        flow_input = FlowInput(flow_input.path, flow_input.name, flow_input.size, "x", start)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    digests: list[str] = []
    bad, examples, size = 0, [], 0
    for batch in reader(flow_input):
        rows += batch.table.to_pylist()
        lines += batch.lines.tolist()
        digests += batch.digests_for(np.arange(batch.table.num_rows))
        bad += batch.bad
        examples += batch.bad_examples
        size += batch.bytes_read
    return {
        "rows": rows,
        "lines": lines,
        "digests": digests,
        "bad": bad,
        "examples": examples,
        "bytes": size,
    }


def sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def test_awkward_csv_the_same_wherever_blocks_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "awkward.csv"
    path.write_bytes(b"".join(AWKWARD))
    row = {"dst_ip": "198.51.100.7", "dst_port": 8333, "uid": None}
    expected_rows = [
        {
            **row,
            "ts": dt.datetime(2017, 5, 17, 10, 0, 0, 500000, tzinfo=UTC),
            "src_ip": "192.0.2.1",
            "src_port": 40001,
            "proto": "tcp",
            "bytes": 100,
            "packets": 2,
        },
        {  # "6" is tcp; "-" and "" are missing, not zero
            **row,
            "ts": dt.datetime(2017, 5, 17, 10, 0, tzinfo=UTC),
            "src_ip": "192.0.2.2",
            "src_port": 40002,
            "proto": "tcp",
            "bytes": None,
            "packets": None,
        },
        {  # white space around values is trimmed
            **row,
            "ts": dt.datetime(2017, 5, 17, 10, 0, 1, tzinfo=UTC),
            "src_ip": "192.0.2.4",
            "src_port": 40004,
            "proto": "tcp",
            "bytes": 5,
            "packets": 1,
        },
        {
            **row,
            "ts": dt.datetime(2017, 5, 17, 10, 0, 4, tzinfo=UTC),
            "src_ip": "192.0.2.8",
            "src_port": 40008,
            "proto": "udp",
            "bytes": 7,
            "packets": 1,
        },
    ]
    expected_examples = [
        (7, EIGHT),  # not UTF-8: no text, so no fields either
        (8, "contains a NUL byte"),
        (10, "source port is above 65535"),
        (11, "source port is not a non-negative integer"),
        (12, "time is not a valid date and time"),
        (13, EIGHT),
    ]
    # the hash is of the line as read, without its newline and trailing carriage returns
    expected_digests = [sha(AWKWARD[i - 1].rstrip(b"\r\n")) for i in (2, 6, 9, 14)]
    assert expected_digests[1] == sha(
        b"2017-05-17T10:00:00Z,192.0.2.2,198.51.100.7,40002,8333,6,-,"
    )
    for block in [*range(1, 70), 4 << 20]:  # every place a block can end, CRLFs included
        monkeypatch.setattr(reader_text, "BLOCK", block)
        got = read(readers.read_csv, path)
        assert got["rows"] == expected_rows, block
        assert got["lines"] == [2, 6, 9, 14], block
        assert got["digests"] == expected_digests, block
        assert (got["bad"], got["examples"]) == (6, expected_examples), block
        assert got["bytes"] == path.stat().st_size - len(AWKWARD[0])


def test_split_lines_numbers_and_trims() -> None:
    block = b"a\r\n\r\n#c\n \t\n\rb\r\r\r\r\r\r\n  x \nlast"
    lines, after = split_lines(block, 10, comment=b"#")
    assert after == 17  # seven lines, the last without a newline
    assert lines.numbers.tolist() == [10, 14, 15, 16]
    assert lines.raw() == [b"a", b"\rb", b"  x ", b"last"]  # a leading CR stays, as before
    lines, after = split_lines(b"", 3)
    assert (len(lines), after) == (0, 3)
    lines, _ = split_lines(b"#x\n\x00\n\xc3\xa9\n\xff\n", 1)
    assert lines.raw() == [b"#x", b"\x00", b"\xc3\xa9", b"\xff"]  # no comments unless asked
    assert lines.nul.tolist() == [False, True, False, False]
    assert lines.high.tolist() == [False, False, True, True]


def test_many_carriage_returns(tmp_path: Path) -> None:
    line = b"1495015200,192.0.2.1,198.51.100.7,1,2,tcp,1,1"
    path = tmp_path / "cr.csv"
    path.write_bytes(HEADER + b"\n" + line + b"\r" * 1000 + b"\n" + b"\r" * 5000 + b"\n" + line)
    got = read(readers.read_csv, path)
    assert got["lines"] == [2, 4]
    assert got["digests"] == [sha(line), sha(line)]
    assert got["bad"] == 0


def test_mostly_good_block_with_a_few_bad_lines(tmp_path: Path) -> None:
    """The common case: thousands of good rows, and bad ones among them, each with its own
    reason and line; the first 20 reasons of a batch are kept."""
    good = [
        f"{1495015200 + i}.{i % 1000:03d},192.0.2.{i % 250},198.51.100.7,{i % 65536},8333,tcp,{i},1"
        for i in range(3000)
    ]
    lines = list(good)
    bad = {
        10: (
            "1495015200,192.0.2.1,198.51.100.7,1,8333,tcp,12a,1",
            "bytes is not a non-negative integer",
        ),
        500: ("1495015200,-,198.51.100.7,1,8333,tcp,1,1", "source address is missing"),
        501: ("1495015200,192.0.2.1,,1,8333,tcp,1,1", "destination address is missing"),
        502: ("1495015200,192.0.2.1,198.51.100.7,1,8333,tcp,1", EIGHT),
        503: ("1495015200,192.0.2.1,198.51.100.7,1,8333,tcp,1,1,1", EIGHT),
        900: (
            "yesterday,192.0.2.1,198.51.100.7,1,8333,tcp,1,1",
            "time is not epoch seconds or ISO-8601 with a zone",
        ),
        901: (
            "2017-05-17T10:00:00,192.0.2.1,198.51.100.7,1,8333,tcp,1,1",
            "time is not epoch seconds or ISO-8601 with a zone",
        ),
        902: (",192.0.2.1,198.51.100.7,1,8333,tcp,1,1", "time is missing"),
        2999: (
            "1495015200,192.0.2.1,198.51.100.7,1,65536,tcp,1,1",
            "destination port is above 65535",
        ),
    }
    for at, (text, _) in bad.items():
        lines[at] = text
    lines[700] = "1495015200,\u00e9,198.51.100.7,1,8333,tcp,1,1"  # UTF-8 beyond ASCII is fine
    path = tmp_path / "flows.csv"
    garbage = ["garbage"] * 30  # more bad lines than a batch gives reasons for
    path.write_text(HEADER.decode() + "\n" + "\n".join(lines + garbage) + "\n", encoding="utf-8")
    got = read(readers.read_csv, path)
    first = [(at + 2, reason) for at, (_, reason) in sorted(bad.items())]
    assert got["examples"] == first + [(3002 + i, EIGHT) for i in range(20 - len(first))]
    assert got["bad"] == len(bad) + len(garbage)
    kept = [i for i in range(3000) if i not in bad]
    assert got["lines"] == [i + 2 for i in kept]
    assert got["digests"] == [sha(lines[i].encode()) for i in kept]
    assert got["rows"][kept.index(700)]["src_ip"] == "\u00e9"
    assert got["rows"][0]["ts"] == dt.datetime(2017, 5, 17, 10, 0, tzinfo=UTC)
    assert got["rows"][-1]["bytes"] == 2998


def test_zeek_comments_resume_and_missing_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = (
        "#separator \\x09\n#path\tconn\n"
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tresp_bytes\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\n"
    )
    body = [
        "1495015200.000001\tC1\t192.0.2.1\t1\t198.51.100.7\t8333\ttcp\t10\t20",
        "#a comment\twith\ttabs",
        "1495015200.000002\t(empty)\t192.0.2.2\t2\t198.51.100.7\t8333\ttcp\t-\t20",
        "",
        "1495015200.000003\t-\t192.0.2.3\t3\t198.51.100.7\t8333\tTCP\t-\t-",
        "#close\t2017-05-17-11-00-00",
    ]
    path = tmp_path / "conn.log"
    path.write_text(head + "\n".join(body) + "\n")
    for block in (1, 40, 100, 4 << 20):
        monkeypatch.setattr(reader_text, "BLOCK", block)
        got = read(readers.read_zeek, path)
        assert got["lines"] == [5, 7, 9]
        assert [(r["uid"], r["bytes"], r["proto"]) for r in got["rows"]] == [
            ("C1", 30, "tcp"),
            (None, 20, "tcp"),
            (None, None, "tcp"),
        ]
        assert [r["ts"].microsecond for r in got["rows"]] == [1, 2, 3]
        assert got["digests"] == [sha(body[i].encode()) for i in (0, 2, 4)]
        # from a byte offset: the header is read again, the lines skipped are still counted
        resumed = read(readers.read_zeek, path, start=len(head) + len(body[0]) + 1)
        assert resumed["lines"] == [7, 9] and resumed["digests"] == got["digests"][1:]


def test_nfdump_summary_at_a_block_edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = "2019-05-06 00:00:05,2019-05-06 00:00:05,0.000,192.0.2.2,198.51.100.10,64419,8333,TCP,...A....,0,0,1,1118,2,10"
    header = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt"
    text = "\n".join([header, record, record + ",0,0", "Summary", "flows,bytes", "2,2236", ""])
    path = tmp_path / "nfdump.csv"
    path.write_text(text)
    for block in (1, 50, 190, 4 << 20):
        monkeypatch.setattr(reader_text, "BLOCK", block)
        got = read(readers.read_nfdump_csv, path)
        assert got["lines"] == [2, 3] and got["bad"] == 0  # more fields than named is fine
        assert [(r["bytes"], r["packets"], r["proto"]) for r in got["rows"]] == [
            (1128, 3, "tcp"),
            (1128, 3, "tcp"),
        ]
        assert got["rows"][0]["ts"] == dt.datetime(2019, 5, 6, 0, 0, 5, tzinfo=UTC)


def test_zeek_json_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [
        {
            "ts": "1495015200.5",
            "uid": "C1",
            "id.orig_h": "192.0.2.1",
            "id.orig_p": "1",
            "id.resp_h": "198.51.100.7",
            "id.resp_p": "8333",
            "proto": "tcp",
            "orig_bytes": "5",
        },
        {
            "ts": "1495015201",
            "id.orig_h": "192.0.2.2",
            "id.orig_p": "2",
            "id.resp_h": "198.51.100.7",
            "id.resp_p": "8333",
            "proto": "udp",
        },
    ]
    lines = [json.dumps(records[0]).encode(), b"", b"not json", json.dumps(records[1]).encode()]
    path = tmp_path / "conn.json"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    for block in (1, 60, 4 << 20):
        monkeypatch.setattr(reader_text, "BLOCK", block)
        got = read(readers.read_zeek_json, path)
        assert got["lines"] == [1, 4]
        assert got["examples"] == [(3, "is not a JSON object")]
        assert got["digests"] == [sha(lines[0]), sha(lines[3])]
        assert [(r["uid"], r["bytes"], r["src_port"]) for r in got["rows"]] == [
            ("C1", 5, 1),
            (None, None, 2),
        ]


# -- The quick path changes nothing --------------------------------------------------------

TIMES = [
    "1495015200",
    "1495015200.5",
    "1495015200.123456",
    "1495015200.1234567891",
    "1234567890123",
    "1495015200.",
    ".5",
    "2017-05-17T10:00:00Z",
    "2017-05-17 10:00:00Z",
    "2017-05-17T10:00:00.123456789Z",
    "2017-05-17T10:00:00+01:00",
    "2017-05-17T10:00:00+0100",
    "2017-05-17T10:00:00-01",
    "2017-05-17T10:00:00",
    "  2017-05-17T10:00:00Z  ",
    "2017-05-17 10:00:00.5",
    "2017-13-45T10:00:00Z",
    "2017-02-30 10:00:00",
    "2017-05-17T10:00:60Z",
    " 1495015200",
    "1495015200\u00a0",
    "١٤٩٥٠١٥٢٠٠",
    "2017-05-17t10:00:00z",
    "-",
    "",
    "(empty)",
]
ADDRESSES = [
    "192.0.2.1",
    "  2001:db8::1",
    "-",
    "",
    "(empty)",
    " 192.0.2.1",
    "192.0.2.1\u3000",
    "   ",
    "  -",
    " (empty)  ",
    "\u00a0192.0.2.1",
    "192.0.2.1 \u00a0",
    "\u00e9",
    "(empty",
    "x y",
]
INTEGERS = [
    "0",
    "  80",
    "65535   ",
    "   ",
    " - ",
    "\x0b80",
    "65536",
    "00080",
    "-1",
    "+1",
    "-0",
    "0x1f",
    "0X1F",
    "0x",
    "1e3",
    "1.0",
    " 80",
    "80 ",
    "1_0",
    "١",
    "１",
    "123456789012345678",
    "1234567890123456789",
    "9999999999999999999",
    "8a",
    "-",
    "",
    "(empty)",
]
PROTOCOLS = ["tcp", "TCP", "6    ", "17", "58", "99", " udp", "ＴＣＰ", "İ", "-", ""]
BYTES = ["\xff", "\x00", "\r", "\t", ",", " ", '"', "\n"]


def value(pool: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(pool[:3]), st.sampled_from(pool))


def quote(value: str, how: int) -> str:
    """``value`` as a CSV writer may put it: as is, in quotes (inner quotes doubled), or
    broken over a line in quotes."""
    if how == 0:
        return value
    inner = value.replace('"', '""')
    return f'"{inner}"' if how == 1 else f'"{inner[:1]}\r\n{inner[1:]}"'


def field_line(fields: list[st.SearchStrategy[str]], sep: str) -> st.SearchStrategy[bytes]:
    plain = st.tuples(*fields).map(lambda f: sep.join(f).encode())
    quoted = st.tuples(
        *(st.tuples(f, st.sampled_from([0, 1, 1, 1, 2])).map(lambda v: quote(*v)) for f in fields)
    ).map(lambda f: sep.join(f).encode())
    row = st.one_of(plain, plain, quoted)
    spoiled = st.tuples(row, st.integers(0, 80), st.sampled_from(BYTES)).map(
        lambda t: t[0][: t[1]] + t[2].encode("latin-1") + t[0][t[1] :]
    )
    nudged = st.tuples(row, st.integers(0, 80), st.sampled_from([-1, 1])).map(
        lambda t: (
            t[0][: t[1]]
            + bytes([(t[0][t[1] : t[1] + 1] or b"0")[0] + t[2] & 255])
            + t[0][t[1] + 1 :]
        )
    )  # one byte one off: a digit that is not one, a separator that is something else
    short = st.tuples(row, st.integers(0, 80)).map(lambda t: t[0][: t[1]])
    return st.one_of(
        row, row, row, spoiled, nudged, short, st.sampled_from([b"", b" ", b"\r", b"#x"])
    )


CSV_LINE = field_line(
    [
        value(TIMES),
        value(ADDRESSES),
        value(ADDRESSES),
        value(INTEGERS),
        value(INTEGERS),
        value(PROTOCOLS),
        value(INTEGERS),
        value(INTEGERS),
    ],
    ",",
)
ZEEK_LINE = field_line(
    [
        value(TIMES),
        value(["C1", "-", "(empty)", " C", "\u00e9"]),
        value(ADDRESSES),
        value(INTEGERS),
        value(ADDRESSES),
        value(INTEGERS),
        value(PROTOCOLS),
        value(INTEGERS),
        value(INTEGERS),
    ],
    "\t",
)
NFDUMP_LINE = field_line(
    [
        value(TIMES),
        st.just("x"),
        st.just("0"),
        value(ADDRESSES),
        value(ADDRESSES),
        value(INTEGERS),
        value(INTEGERS),
        value(PROTOCOLS),
        st.just("."),
        st.just("0"),
        st.just("0"),
        value(INTEGERS),
        value(INTEGERS),
        value(INTEGERS),
        value(INTEGERS),
    ],
    ",",
)
CASES: dict[str, tuple[Reader, bytes, st.SearchStrategy[bytes]]] = {
    "csv": (readers.read_csv, HEADER + b"\n", CSV_LINE),
    "zeek": (
        readers.read_zeek,
        b"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tresp_bytes\n",
        ZEEK_LINE,
    ),
    "nfdump": (readers.read_nfdump_csv, b"", NFDUMP_LINE),
}


def _exact_only(*args: Any, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
    return np.zeros(len(args[2]), dtype=bool), {}


@pytest.mark.parametrize("kind", sorted(CASES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_quick_path_agrees_with_exact_converters(kind: str, data: st.DataObject) -> None:
    """Whatever the bytes, reading with the quick path gives what the exact converters alone
    give: the same rows, values, line numbers, hashes and reasons."""
    reader, header, line = CASES[kind]
    lines = data.draw(st.lists(line, min_size=1, max_size=40))
    ending = data.draw(st.sampled_from([b"\n", b"\r\n"]))
    block = data.draw(st.sampled_from([7, 64, 4 << 20]))
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        path = Path(folder) / "input"
        path.write_bytes(header + ending.join(lines) + data.draw(st.sampled_from([ending, b""])))
        if path.stat().st_size == 0:
            return
        patch.setattr(reader_text, "BLOCK", block)
        quick = read(reader, path)
        patch.setattr(convert, "plain", _exact_only)
        assert quick == read(reader, path)
        patch.setattr(reader_text, "BLOCK", 4 << 20)
        whole = read(reader, path)  # nor does it matter where the blocks end, but that
        assert set(whole.pop("examples")) <= set(quick.pop("examples"))  # each batch keeps
        assert quick == whole  # the first 20 rows refused for each reason


LAYOUTS = {
    "csv": Layout(
        ",",
        8,
        dict(zip((*readers.GENERIC_REQUIRED, "bytes", "packets"), range(8), strict=True)),
        naive_is_utc=False,
    ),
    "nfdump": Layout(",", 9, nfdump_index(NFDUMP_FMT_NAMES), naive_is_utc=True),
}
GOOD = {  # {t}: a time, {n}: a port and a count
    "csv": "{t},192.0.2.1,198.51.100.7,{n},8333,tcp,{n},1",
    "nfdump": "{t},x,192.0.2.1,198.51.100.7,{n},8333,TCP,1,{n}",
}


def one_off(text: str) -> set[str]:
    """``text`` with one byte changed: one up or down, a zero, a space, an x; and with a sign
    or space before it."""
    out = {"-" + text, "+" + text, " " + text, text + " "}
    for at, byte in enumerate(text.encode()):
        for new in {byte - 1, byte + 1, 48, 32, 120}:
            out.add(text[:at] + chr(new) + text[at + 1 :])
    return out - {text}


@pytest.mark.parametrize("kind", sorted(LAYOUTS))
def test_values_one_byte_off_a_good_one(kind: str) -> None:
    """A good time or number, then a copy with one byte changed, in one block: the layout the
    quick path learns from the first must refuse in the second exactly what the exact
    converters refuse."""
    layout, good = LAYOUTS[kind], GOOD[kind]
    times = [
        "1495015200",
        "1495015200.5",
        "1495015200.123456",
        "2017-05-17T10:00:00Z",
        "2017-05-17 10:00:00.25Z",
        "2017-05-17T10:00:00+01:00",
        "2017-05-17T10:00:00-0130",
        "2017-05-17 10:00:00",
        "2017-05-17T10:00:00.123",
    ]
    pairs = [(t, "80", changed, "80") for t in times for changed in one_off(t)]
    pairs += [
        ("1495015200", n, "1495015200", changed)
        for n in ("0", "80", "00080", "65535", "123456789012345678")
        for changed in one_off(n)
    ]
    accepted = 0
    for t, n, t2, n2 in pairs:
        block = f"{good.format(t=t, n=n)}\n{good.format(t=t2, n=n2)}\n".encode()
        lines, _ = split_lines(block, 1)
        quick = convert.convert(lines, layout)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(convert, "plain", _exact_only)
            exact = convert.convert(lines, layout)
        assert quick.table.equals(exact.table), (t, n, t2, n2)
        assert (quick.bad, quick.bad_examples) == (exact.bad, exact.bad_examples), (t2, n2)
        accepted += quick.table.num_rows
    assert 0 < accepted < 2 * len(pairs)


# -- RFC 4180: quoted fields over block edges, and as the csv module reads them -------------

NOTES = ["plain", 'say "hi"', "a,b", "two\nlines", "crlf\r\nin it", "", '"', "\n", ",\r\n,"]


def quoted_file(quoting: int, ending: str) -> tuple[bytes, list[int], list[bytes]]:
    """A CSV with a note column as Python's csv module writes it: its bytes, and each
    record's first line and raw bytes."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=quoting, lineterminator=ending)
    writer.writerow([*HEADER.decode().split(","), "note"])
    starts, raws, line = [], [], 2
    for i, note in enumerate(NOTES):
        before = out.tell()
        writer.writerow(
            [1495015200 + i, "192.0.2.1", "198.51.100.7", 40000 + i, 8333, "tcp", i, 1, note]
        )
        raw = out.getvalue()[before:].removesuffix(ending)
        starts.append(line)
        raws.append(raw.encode())
        line += raw.count("\n") + 1
    return out.getvalue().encode(), starts, raws


@pytest.mark.parametrize("quoting", [csv.QUOTE_ALL, csv.QUOTE_MINIMAL])
def test_quoted_line_breaks_at_every_block_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quoting: int
) -> None:
    text, starts, raws = quoted_file(quoting, "\r\n")
    path = tmp_path / "quoted.csv"
    path.write_bytes(text)
    for block in [*range(1, 160), 4 << 20]:  # a quoted CR, LF or quote at each block edge
        monkeypatch.setattr(reader_text, "BLOCK", block)
        got = read(readers.read_csv, path)
        assert (got["bad"], got["lines"]) == (0, starts), block
        assert got["digests"] == [sha(raw) for raw in raws], block
        assert [r["src_port"] for r in got["rows"]] == [40000 + i for i in range(len(NOTES))]
        assert got["bytes"] == len(text) - len(text.split(b"\n", 1)[0]) - 1


def test_unclosed_quote_costs_its_line_wherever_blocks_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote left open is closed by no later quote, or not within MAX_RECORD bytes: its
    line is bad and the next line is read, whatever the block size."""
    good = b"1495015200,192.0.2.1,198.51.100.7,1,8333,tcp,1,1"
    lines = [HEADER, good, b'1495015200,"192.0.2.1,198.51.100.7,1,8333,tcp,1,1', good, good]
    lines += [b"1495015200," + b"x" * 60 + b',198.51.100.7,1,8333,tcp,1,"1', good]
    path = tmp_path / "open.csv"
    path.write_bytes(b"\n".join(lines) + b'\n1495015200,192.0.2.1,198.51.100.7,1,8333,tcp,1,"1')
    limits = Limits(max_record_bytes=100)  # line 3's quote would close on line 6
    for block in [*range(1, 120), 4 << 20]:
        monkeypatch.setattr(reader_text, "BLOCK", block)
        got = read(functools.partial(readers.read_csv, limits=limits), path)
        assert got["lines"] == [2, 4, 5, 7], block
        assert got["examples"] == [
            (3, dialect.UNCLOSED),
            (6, dialect.UNCLOSED),  # closed on line 8: more than MAX_RECORD bytes on
            (8, dialect.UNCLOSED),
        ], block


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.text(alphabet=',"\r\n ab\u00e9', max_size=6), min_size=1, max_size=4),
        min_size=1,
        max_size=12,
    ),
    quoting=st.sampled_from([csv.QUOTE_ALL, csv.QUOTE_MINIMAL, csv.QUOTE_NONNUMERIC]),
    ending=st.sampled_from(["\n", "\r\n"]),
)
def test_records_and_fields_as_the_csv_module_reads_them(
    rows: list[list[str]], quoting: int, ending: str
) -> None:
    """Whatever Python's csv module writes, the dialect finds the same records (first line,
    raw bytes) and fields as the csv module reads back."""
    out = io.StringIO(newline="")
    csv.writer(out, quoting=quoting, lineterminator=ending).writerows(rows)
    block = out.getvalue().encode()
    quoted = dialect.split_quoted(block, 1, ",", final=True)
    expected = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assume(expected == rows)  # csv writes a lone CR unquoted with LF ends, then reads it as one
    kept = [i for i, row in enumerate(expected) if row != [] and "".join(row).strip()]
    records = quoted.lines.raw()
    got = [[f.decode() for f in dialect.split_record(r, b",")] for r in records]
    # a record of white space alone is skipped, as a blank line is; others are all there
    assert [g for g in got if "".join(g).strip()] == [expected[i] for i in kept]
    assert quoted.rest == b"" and not quoted.unclosed.any()
