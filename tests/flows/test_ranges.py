"""Reading a large text input in pieces (``chainwatch.flows.ranges``): every piece's batches,
in order, must hold what reading the whole input at once gives (rows, line numbers, raw
records and their digests, bad lines, byte counts), for each text format, with bad lines
anywhere (also right at the cuts), CRLF, a last line without a line feed, trailers and
over-long lines; and the pieces must cover the input exactly."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from chainwatch.flows import ranges, readers
from chainwatch.flows.inputs import FlowInput, describe
from chainwatch.flows.limits import Limits
from chainwatch.flows.ranges import split
from chainwatch.flows.readers import text as reader_text
from chainwatch.observations import Batch

Reader = Callable[[FlowInput, Limits | None], Iterator[Batch]]
READERS: dict[str, Reader] = {
    "csv": readers.read_csv,
    "nfdump": readers.read_nfdump_csv,
    "zeek": readers.read_zeek,
    "zeek-json": readers.read_zeek_json,
}
LIMITS = Limits(max_record_bytes=600)
LONG = "9" * 800  # longer than LIMITS.max_record_bytes: one bad line
TARGETS = (90, 333, 1000)


def _hosts(i: int) -> tuple[str, str, int, int]:
    src = f"175.45.{176 + i % 4}.{i % 250 + 1}" if i % 3 else f"192.0.2.{i % 250 + 1}"
    dst = ("203.0.113.10", "198.51.100.7")[i % 2]
    return src, dst, 40000 + i, (3333, 443)[i % 2]


def generic_csv(n: int = 160, bad_every: int = 9) -> list[str]:
    out = ["ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets"]
    for i in range(n):
        src, dst, sp, dp = _hosts(i)
        if i % bad_every == 4:
            out.append(
                ("not a record", f"1557100800.{i},{src},{dst},{sp},99999,tcp,1,1", "", LONG)[i % 4]
            )
        else:
            out.append(f"1557100{800 + i}.25,{src},{dst},{sp},{dp},tcp,{100 + i},{1 + i % 5}")
    return out


NFDUMP_HEADER = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,"
    "dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,"
    "mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr"
)


def nfdump_csv(n: int = 120, bad_every: int = 9, junk_after: int = 0) -> list[str]:
    """As ``nfdump -o csv`` writes it: a header, records, then its Summary block."""
    tail = (
        "0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,"
        "00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,"
        "0-0-0,0-0-0,    0.000,    0.000,    0.000,0.0.0.0,17/1,0,2026-11-28 02:05:32.670"
    )
    out = [NFDUMP_HEADER]
    for i in range(n):
        src, dst, sp, dp = _hosts(i)
        when = f"2019-05-06 00:{i // 60 % 60:02d}:{i % 60:02d}"
        if i % bad_every == 4:
            out.append((f"{when},{when},0.000,{src},{dst},{sp},99999,TCP", "garbage", LONG)[i % 3])
        else:
            out.append(
                f"{when},{when},0.000,{src},{dst},{sp},{dp},TCP,...A....,0,0,1,{840 + i},{tail}"
            )
    out += [
        "Summary",
        "flows,bytes,packets,avg_bps,avg_pps,avg_bpp",
        "999996,715546282,1,66,11,715",
    ]
    # Anything after the trailer is not data, whichever piece holds it.
    out += [f"{_hosts(i)[0]},after the summary,{i}" for i in range(junk_after)]
    return out


ZEEK_HEADER = [
    "#separator \\x09",
    "#set_separator\t,",
    "#empty_field\t(empty)",
    "#unset_field\t-",
    "#path\tconn",
    "#open\t2019-05-06-00-00-00",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\t"
    "orig_bytes\tresp_bytes\torig_pkts\tresp_pkts",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\tcount\tcount\tcount",
]


def zeek_tsv(n: int = 160, bad_every: int = 9) -> list[str]:
    out = list(ZEEK_HEADER)
    for i in range(n):
        src, dst, sp, dp = _hosts(i)
        if i % bad_every == 4:
            out.append(
                ("short\tline", f"x\tC{i}\t{src}\t{sp}\t{dst}\t{dp}\ttcp\t-\t1\t0\t1\t0", LONG)[
                    i % 3
                ]
            )
        else:
            out.append(f"1557100{800 + i}.5\tC{i}\t{src}\t{sp}\t{dst}\t{dp}\ttcp\t-\t{i}\t0\t1\t0")
    out.append("#close\t2019-05-07-00-00-00")
    return out


def zeek_json(n: int = 160, bad_every: int = 9) -> list[str]:
    out = []
    for i in range(n):
        src, dst, sp, dp = _hosts(i)
        if i % bad_every == 4:
            out.append(("not json", "[1, 2]", "", LONG)[i % 4])
        else:
            out.append(
                f'{{"ts":1557100{800 + i}.5,"uid":"C{i}","id.orig_h":"{src}","id.orig_p":{sp},'
                f'"id.resp_h":"{dst}","id.resp_p":{dp},"proto":"tcp","orig_bytes":{i}}}'
            )
    return out


FILES: dict[str, Callable[[], list[str]]] = {
    "csv": generic_csv,
    "nfdump": nfdump_csv,
    "zeek": zeek_tsv,
    "zeek-json": zeek_json,
}


def write(path: Path, lines: list[str], *, crlf: bool = False, final_newline: bool = True) -> Path:
    ending = "\r\n" if crlf else "\n"
    path.write_bytes((ending.join(lines) + (ending if final_newline else "")).encode())
    return path


@dataclass
class Read:
    """Everything a read gives, concatenated over its batches."""

    table: pa.Table
    lines: list[int]
    raw: list[bytes]
    digests: list[str]
    bad: int
    bad_examples: list[tuple[int, str]]
    bytes_read: int
    usable: int


def read(fmt: str, inputs: list[FlowInput]) -> Read:
    batches = [b for each in inputs for b in READERS[fmt](each, LIMITS)]
    raw: list[bytes] = []
    digests: list[str] = []
    for b in batches:
        assert b.spans is not None or not b.table.num_rows
        if b.spans is not None:
            raw += [b.block[s:e] for s, e in b.spans.tolist()]
        digests += b.digests_for(np.arange(b.table.num_rows))
    return Read(
        table=pa.concat_tables([b.table for b in batches]),
        lines=[int(x) for b in batches for x in b.lines],
        raw=raw,
        digests=digests,
        bad=sum(b.bad for b in batches),
        bad_examples=[e for b in batches for e in b.bad_examples],
        bytes_read=sum(b.bytes_read for b in batches),
        usable=sum(b.table.num_rows if b.usable is None else b.usable for b in batches),
    )


def assert_same(pieces: Read, whole: Read) -> None:
    assert pieces.table.equals(whole.table)
    assert pieces.lines == whole.lines
    assert pieces.raw == whole.raw
    assert pieces.digests == whole.digests
    assert pieces.bad == whole.bad
    assert pieces.bad_examples == whole.bad_examples
    assert pieces.bytes_read == whole.bytes_read
    assert pieces.usable == whole.usable


def assert_cover(pieces: list[FlowInput], flow_input: FlowInput) -> None:
    """The pieces cover the input's bytes exactly, each cut just after a line feed, with the
    line number counted from the file itself."""
    data = flow_input.path.read_bytes()[: flow_input.size]
    assert pieces[0].start == flow_input.start
    assert pieces[-1].stop == flow_input.stop
    for before, after in pairwise(pieces):
        assert before.stop == after.start
        assert data[after.start - 1 : after.start] == b"\n"
    for piece in pieces:
        assert piece.start < piece.stop
        assert (piece.path, piece.name, piece.size, piece.sha256) == (
            flow_input.path,
            flow_input.name,
            flow_input.size,
            flow_input.sha256,
        )
        assert piece.first_line == data[: piece.start].count(b"\n") + 1


@pytest.fixture(params=[False, True], ids=["one-block", "small-blocks"])
def blocks(request: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers' blocks as usual (one per piece here), or a few hundred bytes, so that pieces
    and the whole read cut their blocks at different places; and ``split``'s blocks as usual
    (the whole file at once here) or a few dozen bytes, so that lines, words and line feeds
    straddle them."""
    if request.param:
        monkeypatch.setattr(reader_text, "BLOCK", 700)
        monkeypatch.setattr(ranges, "_BLOCK", 23)


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("final_newline", [True, False], ids=["lf-end", "no-lf-end"])
@pytest.mark.parametrize("fmt", sorted(FILES))
def test_pieces_read_as_the_whole(
    tmp_path: Path, blocks: None, fmt: str, crlf: bool, final_newline: bool
) -> None:
    path = write(tmp_path / "flows", FILES[fmt](), crlf=crlf, final_newline=final_newline)
    flow_input = describe(path)
    whole = read(fmt, [flow_input])
    assert whole.table.num_rows > 50 and whole.bad >= 10  # the file is what the test needs
    at_bad = 0
    for target in TARGETS:
        pieces = split(flow_input, fmt, target=target)
        assert len(pieces) > 2
        assert_cover(pieces, flow_input)
        assert_same(read(fmt, pieces), whole)
        bad_lines = {line for line, _ in whole.bad_examples}
        at_bad += sum(p.first_line in bad_lines or p.first_line - 1 in bad_lines for p in pieces)
    assert at_bad >= 3  # bad lines right at cut points were among them


def test_nfdump_no_cut_after_its_trailer(tmp_path: Path, blocks: None) -> None:
    """Lines after nfdump's Summary are not data: the piece holding the trailer runs to the
    end, and counts those bytes as read, as the whole read does."""
    path = write(tmp_path / "nf.csv", nfdump_csv(n=40, junk_after=200))
    flow_input = describe(path)
    data = path.read_bytes()
    trailer = data.index(b"\nSummary") + 1
    pieces = split(flow_input, "nfdump", target=200)
    assert len(pieces) > 2
    assert_cover(pieces, flow_input)
    assert all(p.start <= trailer for p in pieces)
    whole = read("nfdump", [flow_input])
    assert whole.bytes_read == len(data) - data.index(b"\n") - 1
    assert_same(read("nfdump", pieces), whole)


def test_resumed_input_splits_from_its_start(tmp_path: Path) -> None:
    """A grown file resumed at ``start`` (with or without its first line known) is cut from
    there, and its pieces read as the resumed read does."""
    lines = generic_csv(n=200)
    path = write(tmp_path / "grown.csv", lines)
    data = path.read_bytes()
    start = data.index(b"\n", len(data) // 3) + 1
    resumed = FlowInput(path, str(path), len(data), "0" * 64, start=start)
    whole = read("csv", [resumed])
    assert whole.lines[0] > 40
    for known in (None, data[:start].count(b"\n") + 1):
        flow_input = FlowInput(path, str(path), len(data), "0" * 64, start=start, first_line=known)
        pieces = split(flow_input, "csv", target=150)
        assert len(pieces) > 2
        assert pieces[0].start == start
        assert_cover(pieces, flow_input)
        assert_same(read("csv", pieces), whole)


def test_unsplittable_inputs_are_one_piece(tmp_path: Path, blocks: None) -> None:
    csv_lines = generic_csv()
    plain = describe(write(tmp_path / "plain.csv", csv_lines))
    assert len(split(plain, "csv", target=200)) > 2
    # Quoted fields may hold line feeds (RFC 4180): only a read from the start knows.
    quoted = [*csv_lines[:50], '1557100900.5,192.0.2.1,"203.0.113.10",1,2,tcp,3,4', *csv_lines[50:]]
    gz = tmp_path / "flows.csv.gz"
    gz.write_bytes(gzip.compress("\n".join(csv_lines).encode()))
    cr_only = tmp_path / "mac.csv"
    cr_only.write_bytes("\r".join(csv_lines).encode())
    repeated = zeek_tsv() + zeek_tsv()  # logs joined with cat: a header further on
    cases = [
        (describe(write(tmp_path / "quoted.csv", quoted)), "csv"),
        (describe(gz), "csv"),
        (describe(cr_only), "csv"),
        (describe(write(tmp_path / "joined.log", repeated)), "zeek"),
        (plain, "eve"),
        (plain, "nfcapd"),
        (describe(plain.path, "-"), "csv"),  # standard input, spooled
    ]
    for flow_input, fmt in cases:
        assert split(flow_input, fmt, target=200) == [flow_input], flow_input.name
    small = split(plain, "csv", target=plain.size // 2 + 1)  # under twice the target
    assert small == [plain]


def test_piece_sizes(tmp_path: Path) -> None:
    """Every piece but the last is at least the target and ends at the first line feed from
    there; the last is at least the target too (a short rest joins it)."""
    path = write(tmp_path / "f.csv", generic_csv(n=300, bad_every=1000))
    flow_input = describe(path)
    data = path.read_bytes()
    header = data.index(b"\n") + 1
    for target in TARGETS:
        pieces = split(flow_input, "csv", target=target)
        for piece in pieces:
            assert piece.stop - piece.start >= target
        for piece in pieces[:-1]:
            assert piece.stop == data.index(b"\n", max(piece.start + target, header) - 1) + 1


def test_words_across_split_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """nfdump's trailer and a repeated Zeek header are found wherever ``split``'s blocks end
    (also inside the word)."""
    nf = describe(write(tmp_path / "nf.csv", nfdump_csv(n=40, junk_after=200)))
    trailer = nf.path.read_bytes().index(b"\nSummary") + 1
    joined = describe(write(tmp_path / "joined.log", zeek_tsv() + zeek_tsv()))
    for size in range(20, 60):
        monkeypatch.setattr(ranges, "_BLOCK", size)
        assert all(p.start <= trailer for p in split(nf, "nfdump", target=200)), size
        assert split(joined, "zeek", target=200) == [joined], size
