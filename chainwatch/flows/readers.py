"""Format readers: each turns one input into batches of the normalised flow schema.

The schema (``SCHEMA``): ``ts`` (UTC), ``src_ip``, ``dst_ip``, ``src_port``, ``dst_port``,
``proto``, ``bytes``, ``packets``, ``uid`` (Zeek's connection id, else null). Each batch also
keeps, per row, its line (or record) number and its raw text, so events can cite and hash the
record exactly as read (as byte ranges of the block they came in, so a record is hashed only
when an event cites it).

A block of text (a few MiB of whole lines) is read at once. Lines and fields are found with
numpy on the block's bytes, and each field's common values are converted straight from them
(``columns.plain_*``); the rows those do not accept (a wrong number of fields, a value with
white space around it, a bad value, a NUL byte, bytes that are not UTF-8) go through the exact
Arrow converters, which give the same values and a reason for every bad row. Only those rows
get Python attention.

CSV (generic and nfdump) is RFC 4180 (``dialect``): a block holding a quote has its records
found quote-aware, each regular record's fields found as above with the quotes around a field
dropped, and the rest (a field over several lines, a doubled quote, a stray quote) split in
Python. Zeek's TSV is never quoted.

Why not pyarrow.csv: it gives each row's values but neither its line number nor its bytes
(which events cite and hash), and reading its strings with the exact converters is slower
than this reader anyway. ``python benchmarks/csv_reader.py`` (1,000,000 flows, reading only;
2 shared cores): generic CSV 3,221,058 records/s here against 1,559,953 for pyarrow.csv strings
plus the exact converters (2.06x); nfdump CSV 1,139,918 against 744,777 (1.53x); the same CSV
with every field quoted 803,075 against 1,444,931 (0.56x, still without line numbers or raw
records; end to end into SQLite a quoted file scans at 0.92x the speed of the unquoted one).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from chainwatch.errors import InputError
from chainwatch.flows import columns as cols
from chainwatch.flows import dialect
from chainwatch.flows.inputs import FlowInput, Lines, split_lines
from chainwatch.flows.limits import MAX_COUNT, Limits, Overlong, blocks, default_limits, read_line
from chainwatch.flows.limits import open_stream as _open
from chainwatch.watchlists.addresses import canonical_ips

BLOCK = 4 << 20  # bytes of text per batch: bounds memory whatever the input's size
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark, as Excel writes it
SCHEMA = pa.schema(
    [
        ("ts", cols.UTC_US),
        ("src_ip", pa.string()),
        ("dst_ip", pa.string()),
        ("src_port", pa.int64()),
        ("dst_port", pa.int64()),
        ("proto", pa.string()),
        ("bytes", pa.int64()),
        ("packets", pa.int64()),
        ("uid", pa.string()),
    ]
)
#: The nfdump fields chainwatch asks nfdump for (``-o fmt:``), in this order.
NFDUMP_FMT = "fmt:%ts,%te,%sa,%da,%sp,%dp,%pr,%pkt,%byt"
_NFDUMP_FMT_NAMES = ["ts", "te", "sa", "da", "sp", "dp", "pr", "pkt", "byt"]
#: ``nfdump -o csv`` columns without a header line (nfdump 1.6/1.7 layout).
_NFDUMP_CSV_DEFAULT = [
    "ts",
    "te",
    "td",
    "sa",
    "da",
    "sp",
    "dp",
    "pr",
    "flg",
    "fwd",
    "stos",
    "ipkt",
    "ibyt",
    "opkt",
    "obyt",
]
GENERIC_REQUIRED = ("ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto")


@dataclass
class Batch:
    """Records in the normalised schema, with each row's line (or packet) number and raw
    record: ``spans`` (start and end of each row's record in ``block``) for text, ``raw`` for
    records given one by one. A reader that hashes its records itself (pcap: the frame that is
    the evidence) gives ``digests`` instead."""

    table: pa.Table
    lines: np.ndarray
    raw: list[bytes] = field(default_factory=list)
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    bytes_read: int = 0
    digests: list[str] | None = None
    block: bytes = b""
    spans: np.ndarray | None = None
    #: Records the reader could use, watched or not, where the table holds only some of them
    #: (a capture's table holds only watched connections); None: the table's rows are all.
    usable: int | None = None

    def digests_for(self, rows: np.ndarray) -> list[str]:
        """SHA-256 (hex) of the raw records at ``rows``: the evidence hash events cite."""
        if self.digests is not None:
            return [self.digests[r] for r in rows.tolist()]
        if self.spans is not None:
            view = memoryview(self.block)
            return [hashlib.sha256(view[s:e]).hexdigest() for s, e in self.spans[rows].tolist()]
        return [hashlib.sha256(self.raw[r]).hexdigest() for r in rows.tolist()]


def _empty() -> Batch:
    return Batch(pa.Table.from_pylist([], schema=SCHEMA), np.zeros(0, np.int64))


@dataclass(frozen=True)
class _Layout:
    """How a reader's lines hold the fields: separator, number of fields (``at_least``: or
    more), where each schema column is (``index``), whether zone-less times are UTC."""

    sep: str
    width: int
    index: dict[str, int | None]
    naive_is_utc: bool
    at_least: bool = False
    quoting: bool = False  # RFC 4180 quotes (CSV); Zeek escapes instead and never quotes
    limits: Limits = field(default_factory=Limits)


# -- The exact path: any text, a reason for every bad row -------------------------------------


def _strings(raw: list[bytes]) -> tuple[pa.Array, np.ndarray]:
    """UTF-8 text of each line, and a mask of the lines that are not valid UTF-8."""
    binary = pa.array(raw, pa.binary())
    try:
        return binary.cast(pa.string()), np.zeros(len(raw), dtype=bool)
    except pa.ArrowInvalid:
        bad = np.zeros(len(raw), dtype=bool)
        fixed: list[str | None] = []
        for i, line in enumerate(raw):
            try:
                fixed.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                bad[i] = True
                fixed.append(None)
        return pa.array(fixed, pa.string()), bad


def _split(text: pa.Array, layout: _Layout) -> pa.Array:
    """Each line's fields, split at every separator (text without quoting)."""
    return pc.split_pattern(pc.fill_null(text, ""), layout.sep)


def _split_quoted(raw: list[bytes], layout: _Layout) -> tuple[pa.Array, np.ndarray]:
    """Each record's fields as RFC 4180 reads them, and a mask of the records that are not
    valid UTF-8 (no fields). For the few records the plain path does not take."""
    sep = layout.sep.encode()
    fields: list[list[str]] = []
    bad = np.zeros(len(raw), dtype=bool)
    for i, record in enumerate(raw):
        try:
            fields.append([f.decode("utf-8") for f in dialect.split_record(record, sep)])
        except UnicodeDecodeError:
            bad[i] = True
            fields.append([])
    return pa.array(fields, pa.list_(pa.string())), bad


def _width(fields: pa.Array, layout: _Layout, problems: cols.Problems) -> None:
    width, at_least = layout.width, layout.at_least
    lengths = np.asarray(pc.list_value_length(fields).to_numpy(zero_copy_only=False))
    wrong = lengths < width if at_least else lengths != width
    problems.add(
        wrong,
        f"expected {width}{' or more' if at_least else ''} fields separated by {layout.sep!r}",
    )


def _field(fields: pa.Array, index: int | None, n: int) -> pa.Array:
    if index is None:
        return pa.nulls(n, pa.string())
    safe = pc.if_else(
        pc.greater(pc.list_value_length(fields), index),
        fields,
        pa.scalar([""] * (index + 1), fields.type),
    )
    return pc.list_element(safe, index)


def _sum(a: pa.Array, b: pa.Array) -> pa.Array:
    """a + b where both are known, else whichever is known (never an invented zero)."""
    return pc.if_else(pc.is_null(a), b, pc.if_else(pc.is_null(b), a, pc.add(a, b)))


def _columns(
    fields: pa.Array,
    index: dict[str, int | None],
    n: int,
    problems: cols.Problems,
    *,
    naive_is_utc: bool,
) -> dict[str, pa.Array]:
    def get(key: str) -> pa.Array:
        return _field(fields, index.get(key), n)

    def count(key: str, name: str | None = None) -> pa.Array:
        return cols.integer(get(key), name or key, problems, maximum=MAX_COUNT)

    src, dst = cols.text(get("src_ip")), cols.text(get("dst_ip"))
    problems.add(
        np.asarray(pc.is_null(src).to_numpy(zero_copy_only=False)), "source address is missing"
    )
    problems.add(
        np.asarray(pc.is_null(dst).to_numpy(zero_copy_only=False)), "destination address is missing"
    )
    arrays = {
        "ts": cols.timestamp(get("ts"), "time", problems, naive_is_utc=naive_is_utc),
        "src_ip": src,
        "dst_ip": dst,
        "src_port": cols.integer(get("src_port"), "source port", problems, maximum=65535),
        "dst_port": cols.integer(get("dst_port"), "destination port", problems, maximum=65535),
        "proto": cols.protocol(get("proto")),
    }
    if "bytes2" in index:
        arrays["bytes"] = _sum(count("bytes"), count("bytes2", "bytes"))
        arrays["packets"] = _sum(count("packets"), count("packets2", "packets"))
    else:
        arrays["bytes"] = count("bytes")
        arrays["packets"] = count("packets")
    if "uid" in index:
        arrays["uid"] = cols.text(get("uid"))
    return arrays


def _exact(
    fields: pa.Array,
    utf8_bad: np.ndarray,
    nul: np.ndarray,
    layout: _Layout,
    unclosed: np.ndarray | None = None,
) -> tuple[cols.Problems, dict[str, pa.Array]]:
    """Rows (as their fields) through the exact converters; reasons in the order the rows
    are checked."""
    problems = cols.Problems(len(fields))
    if unclosed is not None:
        problems.add(unclosed, dialect.UNCLOSED)
    _width(fields, layout, problems)
    arrays = _columns(fields, layout.index, len(fields), problems, naive_is_utc=layout.naive_is_utc)
    problems.add(utf8_bad, "is not valid UTF-8")
    problems.add(nul, "contains a NUL byte")  # PostgreSQL cannot store NUL in text
    return problems, arrays


# -- The plain path: the common rows, straight from the bytes ---------------------------------


def _field_spans(
    data: np.ndarray,
    buffer: pa.Buffer,
    start: np.ndarray,
    end: np.ndarray,
    rows: np.ndarray,
    layout: _Layout,
    seps: np.ndarray,
) -> tuple[np.ndarray, dict[int, cols.Spans]]:
    """The ``rows`` that have the right number of fields (``seps``: where the separators
    are), and the spans of each field the layout uses (for the other rows, an empty span at
    the line's start)."""
    wanted = sorted({i for i in layout.index.values() if i is not None})
    n, least = len(start), layout.width - 1
    each = len(seps) // n if n else 0
    if n and each * n == len(seps) and (each == least or (layout.at_least and each > least)):
        # Usually every line has the same number of separators: then each row of this
        # matrix is one line's, if each lies inside its line. No search needed.
        grid = seps.reshape(n, each)
        if not each or ((grid[:, 0] >= start).all() and (grid[:, -1] < end).all()):
            used = grid[:, : min(max(wanted, default=0) + 1, each)].T.copy()  # rows: fields
            spans = {
                k: cols.Spans(
                    data, buffer, start if k == 0 else used[k - 1] + 1, used[k] if k < each else end
                )
                for k in wanted
            }
            return rows.copy(), spans
    after = np.concatenate((seps, np.full(layout.width + 1, len(data))))  # then "none left"
    first = np.searchsorted(seps, start)
    fits = rows.copy()
    if least >= 1:
        fits &= after[first + least - 1] < end
    if not layout.at_least:
        fits &= after[first + least] >= end
    spans = {}
    for k in wanted:  # rows that do not fit get empty spans, so that spans stay in order
        begin = start if k == 0 else np.where(fits, after[first + k - 1] + 1, start)
        stop = np.where(fits, np.minimum(after[first + k], end), start)
        spans[k] = cols.Spans(data, buffer, begin, stop)
    return fits, spans


def _plain(
    data: np.ndarray,
    buffer: pa.Buffer,
    start: np.ndarray,
    end: np.ndarray,
    rows: np.ndarray,
    layout: _Layout,
    quoted: dialect.Quoted | None = None,
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The rows (of ``rows``) that the plain converters accept, and the columns: exact for
    those rows, anything for the others. In a block with quotes (``quoted``) a field in
    quotes is read without them, unless it holds a doubled quote (the exact path's)."""
    index, n, ts = layout.index, len(start), layout.index.get("ts")
    if (
        len(layout.sep.encode()) != 1
        or not layout.sep.isascii()
        or len(data) >= 1 << 31  # the spans use 32-bit offsets
        or ts is None  # every row lacks a required field: the exact path says so
        or index.get("src_ip") is None
        or index.get("dst_ip") is None
    ):
        return np.zeros(n, dtype=bool), {}
    seps = np.flatnonzero(data == ord(layout.sep)) if quoted is None else quoted.seps
    ok, spans = _field_spans(data, buffer, start, end, rows, layout, seps)
    if quoted is not None:
        spans = {k: _unquote(field_spans) for k, field_spans in spans.items()}
    accepted: list[np.ndarray] = []

    def text(key: str, *, required: bool = False) -> pa.Array:
        where = index.get(key)
        if where is None:
            return pa.nulls(n, pa.string())
        good, values = cols.plain_text(spans[where], ok, required=required)
        accepted.append(good)
        return values

    def integer(key: str, maximum: int | None = None) -> pa.Array:
        where = index.get(key)
        if where is None:
            return pa.nulls(n, pa.int64())
        good, values = cols.plain_integer(spans[where], ok, maximum=maximum)
        accepted.append(good)
        return values

    arrays = {"src_ip": text("src_ip", required=True), "dst_ip": text("dst_ip", required=True)}
    ok = ok & accepted[0] & accepted[1]  # later fields need not look at rows already refused
    good, arrays["ts"] = cols.plain_time(spans[ts], ok, naive_is_utc=layout.naive_is_utc)
    accepted.append(good)
    arrays["src_port"] = integer("src_port", 65535)
    arrays["dst_port"] = integer("dst_port", 65535)
    proto = index.get("proto")
    if proto is None:
        arrays["proto"] = pa.nulls(n, pa.string())
    else:
        good, arrays["proto"] = cols.plain_protocol(spans[proto], ok)
        accepted.append(good)
    if "bytes2" in index:
        arrays["bytes"] = _sum(integer("bytes", MAX_COUNT), integer("bytes2", MAX_COUNT))
        arrays["packets"] = _sum(integer("packets", MAX_COUNT), integer("packets2", MAX_COUNT))
    else:
        arrays["bytes"] = integer("bytes", MAX_COUNT)
        arrays["packets"] = integer("packets", MAX_COUNT)
    if "uid" in index:
        arrays["uid"] = text("uid")
    for good in accepted:
        ok &= good
    return ok, arrays


def _unquote(spans: cols.Spans) -> cols.Spans:
    """The fields without the quotes around them (of the rows ``Quoted.plain`` allows: a
    field that starts with a quote ends with its closing one, and holds no other)."""
    wrapped = (spans.length >= 2) & (spans.first == dialect.QUOTE)
    if not wrapped.any():
        return spans
    return cols.Spans(spans.data, spans.buffer, spans.start + wrapped, spans.end - wrapped)


def _utf8_invalid(lines: Lines, buffer: pa.Buffer) -> np.ndarray:
    """Lines that are not UTF-8, among those with bytes above ASCII: Arrow checks them all
    at once, Python one by one only when some are bad."""
    invalid = np.zeros(len(lines), dtype=bool)
    if not lines.high.any():
        return invalid
    try:
        if len(lines.data) >= 1 << 31:  # beyond 32-bit offsets: one by one
            raise pa.ArrowInvalid("block too large")
        cols.Spans(lines.data, buffer, lines.start, lines.end).array(lines.high, pa.binary()).cast(
            pa.string()
        )
        return invalid
    except pa.ArrowInvalid:
        rows = np.flatnonzero(lines.high)
        for row, line in zip(rows.tolist(), lines.raw(rows), strict=True):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                invalid[row] = True
        return invalid


def _convert(
    lines: Lines,
    layout: _Layout,
    text: pa.Array | None = None,
    quoted: dialect.Quoted | None = None,
) -> Batch:
    """A batch from the ``lines`` of a block. ``text`` is the lines' text where it is not the
    lines themselves (Zeek JSON, re-joined as tab-separated fields); null where unreadable.
    ``quoted``: the block holds quotes, and ``lines`` are its records."""
    n = len(lines)
    if text is None:
        data, buffer, start, end = lines.data, pa.py_buffer(lines.block), lines.start, lines.end
        plain = ~lines.nul & ~_utf8_invalid(lines, buffer)
        if quoted is not None:
            plain &= quoted.plain
    else:
        data, offsets = cols.dense(text)
        buffer = text.buffers()[2] or pa.py_buffer(b"")
        start, end = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
        plain = ~lines.nul & np.asarray(text.is_valid().to_numpy(zero_copy_only=False))
    ok, arrays = _plain(data, buffer, start, end, plain, layout, quoted)
    problems = cols.Problems(n)
    rest = np.flatnonzero(~ok)
    if len(rest):
        unclosed = None
        if quoted is not None:
            fields, utf8_bad = _split_quoted(lines.raw(rest), layout)
            unclosed = quoted.unclosed[rest]
        elif text is None:
            part, utf8_bad = _strings(lines.raw(rest))
            fields = _split(part, layout)
        else:
            part = text.take(pa.array(rest))
            utf8_bad = np.asarray(pc.is_null(part).to_numpy(zero_copy_only=False))
            fields = _split(part, layout)
        exact, exact_arrays = _exact(fields, utf8_bad, lines.nul[rest], layout, unclosed)
        # every check is of one row alone, and the plain path accepted no row any check
        # refuses: the exact path on these rows finds what it would have found on all
        problems.mask[rest] = exact.mask
        problems.reasons = {int(rest[row]): reason for row, reason in exact.reasons.items()}
        if len(rest) == n:
            arrays = exact_arrays
        else:
            mask = pa.array(~ok)
            arrays = {
                name: pc.replace_with_mask(arrays[name], mask, values)
                for name, values in exact_arrays.items()
            }
    _bounds(lines, arrays["ts"], problems, layout.limits)
    return _finish(lines, problems, arrays)


def _bounds(lines: Lines, ts: pa.Array, problems: cols.Problems, limits: Limits) -> None:
    """Rows the converters accepted that break a limit (``chainwatch.flows.limits``): too
    long a line, a time outside the window."""
    if len(lines) and len(lines.block) > limits.max_record_bytes:
        long = (lines.end - lines.start) > limits.max_record_bytes
        problems.add(long, f"is longer than {limits.max_record_bytes:,} bytes")
    if len(ts):
        outside = pc.or_(
            pc.less(ts, pa.scalar(limits.earliest, cols.UTC_US)),
            pc.greater(ts, pa.scalar(limits.latest, cols.UTC_US)),
        )
        problems.add(
            np.asarray(pc.fill_null(outside, False).to_numpy(zero_copy_only=False), dtype=bool),
            f"time is outside {limits.window_text()}",
        )


def _finish(lines: Lines, problems: cols.Problems, arrays: dict[str, pa.Array]) -> Batch:
    n = len(lines)
    for side in ("src_ip", "dst_ip"):  # one text per address, whatever the log wrote
        arrays[side] = canonical_ips(arrays[side])
    table = pa.table(
        {name: arrays.get(name, pa.nulls(n, SCHEMA.field(name).type)) for name in SCHEMA.names},
        schema=SCHEMA,
    )
    good = ~problems.mask
    examples = [
        (int(lines.numbers[row]), reason) for row, reason in sorted(problems.reasons.items())
    ][:20]
    keep = np.flatnonzero(good)
    everything = len(keep) == n
    return Batch(
        table=table if everything else table.filter(pa.array(good)),
        lines=lines.numbers[keep],
        bad=n - len(keep),
        bad_examples=examples,
        block=lines.block,
        spans=np.column_stack((lines.start[keep], lines.end[keep])),
    )


def _find(block: bytes, word: bytes) -> int:
    """``block.find(word)``, quicker where the word's first byte is rare (as "S" is in nfdump's
    CSV): bytes.find reads a block of digits at about 2.5 GB/s, numpy finds a byte faster."""
    data = np.frombuffer(block, dtype=np.uint8)
    firsts = np.flatnonzero(data[: max(len(block) - len(word) + 1, 0)] == word[0])
    if len(firsts) > 64:
        return block.find(word)
    return next((int(at) for at in firsts.tolist() if block.startswith(word, at)), -1)


def _delimited(
    handle: IO[bytes],
    name: str,
    layout: _Layout,
    *,
    first_line: int,
    comment: bytes | None = None,
    stop: bytes | None = None,
) -> Iterator[Batch]:
    number, rest = first_line, b""
    for chunk in blocks(handle, BLOCK, layout.limits.max_record_bytes):
        if isinstance(chunk, Overlong):
            if rest:  # a quoted record left open runs into the long line: it is not closed
                batch, number, rest = _quoted_batch(rest, number, layout, final=True)
                yield batch
            yield _overlong(chunk, number, layout.limits)
            number += 1
            continue
        size = len(chunk)
        block = rest + chunk if rest else chunk
        stopped = False
        if stop is not None:
            at = _find(block, stop)
            if at > 0 and block[at - 1 : at] == b'"':  # as a spreadsheet saves it: quoted
                at -= 1
            if at >= 0 and (at == 0 or block[at - 1 : at] == b"\n"):
                block, stopped = block[:at], True  # nfdump's trailing "Summary" is not data
        if layout.quoting and (rest or b'"' in block):
            final = stopped or not block.endswith(b"\n")
            batch, number, rest = _quoted_batch(block, number, layout, final=final)
        else:
            lines, number = split_lines(block, number, comment=comment)
            batch = _convert(lines, layout) if len(lines) else _empty()
        batch.bytes_read = size
        yield batch
        if stopped:
            return
    if rest:  # a quoted field still open at the end of the input
        yield _quoted_batch(rest, number, layout, final=True)[0]


def _overlong(skipped: Overlong, number: int, limits: Limits) -> Batch:
    """The batch standing for one line too long to read: one bad line."""
    batch = _empty()
    batch.bad = 1
    batch.bad_examples = [(number, f"is longer than {limits.max_record_bytes:,} bytes")]
    batch.bytes_read = skipped.size
    return batch


def _quoted_batch(
    block: bytes, number: int, layout: _Layout, *, final: bool
) -> tuple[Batch, int, bytes]:
    """A batch of a block holding quotes, the next line's number, and the bytes of a record
    the block ends inside."""
    quoted = dialect.split_quoted(
        block, number, layout.sep, final=final, max_record=layout.limits.max_record_bytes
    )
    lines = quoted.lines
    batch = _convert(lines, layout, quoted=quoted) if len(lines) else _empty()
    return batch, quoted.next_line, quoted.rest


def _header(handle: BinaryIO, name: str, limits: Limits) -> tuple[bytes, int]:
    """The first non-blank line and the number of lines it took."""
    count = 0
    while True:
        line = read_line(handle, limits.max_record_bytes, name)
        if not line:
            return b"", count
        count += 1
        if line.strip():
            return line.rstrip(b"\r\n").lstrip(BOM), count


def _resume(handle: IO[bytes], start: int, first_line: int) -> int:
    """Skip to byte ``start`` (where an earlier round stopped reading a file that has grown
    since), counting the lines skipped; returns the line number found there."""
    position = handle.tell()
    if start <= position:
        return first_line
    skipped = 0
    while position < start:
        chunk = handle.read(min(BLOCK, start - position))
        if not chunk:
            break
        skipped += chunk.count(b"\n")
        position += len(chunk)
    return first_line + skipped


def read_csv(flow_input: FlowInput, limits: Limits | None = None) -> Iterator[Batch]:
    """Generic CSV (DESIGN.md): a header naming the columns, in any order."""
    limits = limits or default_limits()
    with _open(flow_input.path, flow_input.name) as handle:
        header, used = _header(handle, flow_input.name, limits)
        names = _names(header)
        missing = [c for c in GENERIC_REQUIRED if c not in names]
        if missing:
            raise InputError(
                flow_input.name,
                f"has no column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                line=used,
                expected="a header with ts, src_ip, dst_ip, src_port, dst_port, proto "
                "(and optionally bytes, packets)",
            )
        index: dict[str, int | None] = {
            c: (names.index(c) if c in names else None)
            for c in (*GENERIC_REQUIRED, "bytes", "packets")
        }
        first_line = _resume(handle, flow_input.start, used + 1)
        layout = _Layout(",", len(names), index, naive_is_utc=False, quoting=True, limits=limits)
        yield from _delimited(handle, flow_input.name, layout, first_line=first_line)


def _names(header: bytes) -> list[str]:
    """A CSV header's column names (RFC 4180: perhaps quoted), lower case."""
    return [
        c.decode("utf-8", "replace").strip().strip('"').lower()
        for c in dialect.split_record(header, b",")
    ]


def _nfdump_index(names: Sequence[str]) -> dict[str, int | None]:
    where = {name: i for i, name in enumerate(names)}
    index: dict[str, int | None] = {
        "ts": where.get("ts"),
        "src_ip": where.get("sa"),
        "dst_ip": where.get("da"),
        "src_port": where.get("sp"),
        "dst_port": where.get("dp"),
        "proto": where.get("pr"),
        "bytes": where.get("ibyt", where.get("byt")),
        "packets": where.get("ipkt", where.get("pkt")),
    }
    if "obyt" in where:  # bidirectional exporters (NSEL) report the reverse direction too
        index["bytes2"], index["packets2"] = where["obyt"], where.get("opkt")
    return index


def read_nfdump_csv(flow_input: FlowInput, limits: Limits | None = None) -> Iterator[Batch]:
    """``nfdump -o csv`` output: header line optional, trailing Summary block ignored."""
    limits = limits or default_limits()
    with _open(flow_input.path, flow_input.name) as handle:
        first, used = _header(handle, flow_input.name, limits)
        names = _names(first)
        if names[0] == "ts":
            start = used + 1
        else:
            names, start = _NFDUMP_CSV_DEFAULT, 1
            handle.seek(0)
            if handle.read(3) != BOM:
                handle.seek(0)
        layout = _Layout(
            ",",
            len(names),
            _nfdump_index(names),
            naive_is_utc=True,
            at_least=True,
            quoting=True,
            limits=limits,
        )
        yield from _delimited(handle, flow_input.name, layout, first_line=start, stop=b"Summary")


def read_zeek(flow_input: FlowInput, limits: Limits | None = None) -> Iterator[Batch]:
    """Zeek conn.log, TSV with its ``#`` header lines. A header met again further on (logs
    joined with ``cat``, each with its own ``#separator`` and ``#fields``) sets the layout of
    the lines after it."""
    limits = limits or default_limits()
    name = flow_input.name
    with _open(flow_input.path, name) as handle:
        header, number = _ZeekHeader(name, limits), 0
        while header.layout is None:
            line = read_line(handle, limits.max_record_bytes, name)
            if not line:
                raise InputError(
                    name, "has a Zeek header but no #fields line", expected="#fields ts uid ..."
                )
            number += 1
            header.take(line, number)
        number = _resume(handle, flow_input.start, number + 1)
        for chunk in blocks(handle, BLOCK, limits.max_record_bytes):
            if isinstance(chunk, Overlong):
                yield _overlong(chunk, number, limits)
                number += 1
                continue
            batches, number = _zeek_block(chunk, number, header)
            batches[-1].bytes_read = len(chunk)
            yield from batches


class _ZeekHeader:
    """The layout Zeek's header lines give, as they come (``take``)."""

    def __init__(self, name: str, limits: Limits) -> None:
        self.name, self.limits = name, limits
        self.sep = "\t"
        self.layout: _Layout | None = None

    def take(self, line: bytes, number: int) -> None:
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if text.startswith("#separator"):
            self.sep = text.split(" ", 1)[-1].encode().decode("unicode_escape")
        elif text.startswith("#fields"):
            names = text.split(self.sep)[1:]
            index = _zeek_index(names, self.name, number)
            self.layout = _Layout(self.sep, len(names), index, False, limits=self.limits)


def _zeek_block(block: bytes, number: int, header: _ZeekHeader) -> tuple[list[Batch], int]:
    """The batches of a block of Zeek lines (one per stretch between header lines), and the
    next line's number."""
    batches, at = [], 0
    while True:
        found = _next_header(block, at)
        segment = block[at:] if found < 0 else block[at:found]
        if segment:
            lines, number = split_lines(segment, number, comment=b"#")
            assert header.layout is not None
            batches.append(_convert(lines, header.layout) if len(lines) else _empty())
        if found < 0:
            return batches or [_empty()], number
        stop = block.find(b"\n", found)
        at = len(block) if stop < 0 else stop + 1
        header.take(block[found:at], number)
        number += 1


def _next_header(block: bytes, at: int) -> int:
    """Where the next ``#separator`` or ``#fields`` line from ``at`` starts, or -1."""
    found = -1
    for word in (b"#separator", b"#fields"):
        if block.startswith(word, at):
            return at
        where = block.find(b"\n" + word, at)
        if where >= 0 and (found < 0 or where + 1 < found):
            found = where + 1
    return found


def _zeek_index(names: Sequence[str], name: str, line: int) -> dict[str, int | None]:
    where = {n: i for i, n in enumerate(names)}
    need = ["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"]
    missing = [n for n in need if n not in where]
    if missing:
        raise InputError(
            name, f"Zeek log has no field {', '.join(missing)}", line=line, expected="a conn.log"
        )
    return {
        "ts": where["ts"],
        "uid": where.get("uid"),
        "src_ip": where["id.orig_h"],
        "src_port": where["id.orig_p"],
        "dst_ip": where["id.resp_h"],
        "dst_port": where["id.resp_p"],
        "proto": where["proto"],
        "bytes": where.get("orig_bytes"),
        "bytes2": where.get("resp_bytes"),
        "packets": where.get("orig_pkts"),
        "packets2": where.get("resp_pkts"),
    }


_ZEEK_JSON_FIELDS = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "orig_bytes",
    "resp_bytes",
    "orig_pkts",
    "resp_pkts",
]


def read_zeek_json(flow_input: FlowInput, limits: Limits | None = None) -> Iterator[Batch]:
    """Zeek conn.log as JSON lines. Each line's fields are re-joined as tab-separated text and
    go through the same converters as the TSV form."""
    limits = limits or default_limits()
    with _open(flow_input.path, flow_input.name) as handle:
        number = _resume(handle, flow_input.start, 1)
        index = _zeek_index(_ZEEK_JSON_FIELDS, flow_input.name, 1)
        layout = _Layout("\t", len(_ZEEK_JSON_FIELDS), index, False, limits=limits)
        for block in blocks(handle, BLOCK, limits.max_record_bytes):
            if isinstance(block, Overlong):
                yield _overlong(block, number, limits)
                number += 1
                continue
            lines, number = split_lines(block, number)
            if not len(lines):
                continue
            batch = _convert(lines, layout, _json_as_tsv(lines.raw()))
            batch.bad_examples = [
                (
                    line,
                    "is not a JSON object"
                    if reason.startswith("expected") or reason == "is not valid UTF-8"
                    else reason,
                )
                for line, reason in batch.bad_examples
            ]
            batch.bytes_read = len(block)
            yield batch


def _json_as_tsv(raw: list[bytes]) -> pa.Array:
    schema = pa.schema([(name, pa.string()) for name in _ZEEK_JSON_FIELDS])
    try:
        table = pajson.read_json(
            io.BytesIO(b"\n".join(raw)),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
        if table.num_rows != len(raw):
            raise pa.ArrowInvalid("row count")
        parts = [
            pc.fill_null(table.column(name).combine_chunks(), "-") for name in _ZEEK_JSON_FIELDS
        ]
        return pc.binary_join_element_wise(*parts, "\t")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _json_rows(raw)  # a bad line (or numbers where Arrow wants text): one by one


def _json_rows(raw: list[bytes]) -> pa.Array:
    out: list[str | None] = []
    for line in raw:
        try:
            record = json.loads(line)
        except ValueError:
            out.append(None)
            continue
        if not isinstance(record, dict):
            out.append(None)
            continue
        out.append(
            "\t".join(
                "-" if record.get(k) is None else str(record.get(k)).replace("\t", " ")
                for k in _ZEEK_JSON_FIELDS
            )
        )
    return pa.array(out, pa.string())


def nfdump_binary() -> str:
    path = shutil.which("nfdump")
    if path is None:
        raise InputError(
            "nfdump",
            "is not installed",
            expected="the nfdump package (apt-get install nfdump) to read nfcapd files",
        )
    return path


def read_nfcapd(
    flow_input: FlowInput, filter_file: os.PathLike[str], limits: Limits | None = None
) -> Iterator[Batch]:
    """nfcapd files through the real nfdump: nfdump's C code applies the watch filter (read
    from ``filter_file``, see ``chainwatch.flows.nfdump_filter``) and prints only the fields
    chainwatch uses, in UTC."""
    argv = [
        nfdump_binary(),
        "-r",
        str(flow_input.path),
        "-q",
        "-N",
        "-o",
        NFDUMP_FMT,
        "-f",
        os.fspath(filter_file),
    ]
    env = dict(os.environ, TZ="UTC")
    limits = limits or default_limits()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        index = _nfdump_index(_NFDUMP_FMT_NAMES)
        try:
            layout = _Layout(",", len(_NFDUMP_FMT_NAMES), index, naive_is_utc=True, limits=limits)
            yield from _delimited(proc.stdout, flow_input.name, layout, first_line=1)
        finally:
            if proc.poll() is None:
                proc.kill()
        error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            reason = error.splitlines()[-1] if error else f"exit status {proc.returncode}"
            raise InputError(
                flow_input.name, f"nfdump could not read it: {reason}", expected="an nfcapd file"
            )
