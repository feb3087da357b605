"""Format readers: each turns one input into batches of the normalised flow schema.

The schema (``SCHEMA``): ``ts`` (UTC), ``src_ip``, ``dst_ip``, ``src_port``, ``dst_port``,
``proto``, ``bytes``, ``packets``, ``uid`` (Zeek's connection id, else null). Each batch also
keeps, per row, its line (or record) number and its raw text, so events can cite and hash the
record exactly as read. Text is split into fields with Arrow compute kernels, a block of lines
at a time; only rows that fail to parse get Python attention (their reasons).
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
from chainwatch.flows.inputs import FlowInput, blocks, open_decoded

BLOCK = 4 << 20  # bytes of text per batch: bounds memory whatever the input's size
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
    record. A reader that hashes its records itself (pcap: the frame that is the evidence)
    gives ``digests`` instead of ``raw``."""

    table: pa.Table
    lines: np.ndarray
    raw: list[bytes]
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    bytes_read: int = 0
    digests: list[str] | None = None

    def digests_for(self, rows: np.ndarray) -> list[str]:
        """SHA-256 (hex) of the raw records at ``rows``: the evidence hash events cite."""
        if self.digests is not None:
            return [self.digests[r] for r in rows.tolist()]
        return [hashlib.sha256(self.raw[r]).hexdigest() for r in rows.tolist()]


@dataclass
class _Lines:
    """Non-blank, non-comment lines of a block with their line numbers; ``nul`` says whether
    the block holds a NUL byte anywhere (one scan of the block, not one per line)."""

    raw: list[bytes]
    numbers: np.ndarray
    nul: bool = False


def _lines(block: bytes, first_line: int, *, comment: bytes | None = None) -> tuple[_Lines, int]:
    parts = block.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    keep = [
        i
        for i, line in enumerate(parts)
        if line.strip() and not (comment and line.startswith(comment))
    ]
    raw = [parts[i].rstrip(b"\r") for i in keep]
    lines = _Lines(raw, np.asarray(keep, dtype=np.int64) + first_line, b"\x00" in block)
    return lines, first_line + len(parts)


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


def _split(
    text: pa.Array, sep: str, width: int, problems: cols.Problems, *, at_least: bool = False
) -> pa.Array:
    fields = pc.split_pattern(pc.fill_null(text, ""), sep)
    lengths = np.asarray(pc.list_value_length(fields).to_numpy(zero_copy_only=False))
    wrong = lengths < width if at_least else lengths != width
    problems.add(
        wrong, f"expected {width}{' or more' if at_least else ''} fields separated by {sep!r}"
    )
    return fields


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


def _finish(
    lines: _Lines, problems: cols.Problems, arrays: dict[str, pa.Array], utf8_bad: np.ndarray
) -> Batch:
    problems.add(utf8_bad, "is not valid UTF-8")
    n = len(lines.raw)
    if lines.nul:  # PostgreSQL cannot store NUL in text: a bad line on every store alike
        problems.add(
            np.fromiter((b"\x00" in line for line in lines.raw), dtype=bool, count=n),
            "contains a NUL byte",
        )
    table = pa.table(
        {name: arrays.get(name, pa.nulls(n, SCHEMA.field(name).type)) for name in SCHEMA.names},
        schema=SCHEMA,
    )
    good = ~problems.mask
    examples = [
        (int(lines.numbers[row]), reason) for row, reason in sorted(problems.reasons.items())
    ][:20]
    keep = np.flatnonzero(good)
    return Batch(
        table=table.filter(pa.array(good)) if not good.all() else table,
        lines=lines.numbers[keep],
        raw=[lines.raw[i] for i in keep] if not good.all() else lines.raw,
        bad=int(problems.mask.sum()),
        bad_examples=examples,
    )


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
        arrays["bytes"] = _sum(
            cols.integer(get("bytes"), "bytes", problems),
            cols.integer(get("bytes2"), "bytes", problems),
        )
        arrays["packets"] = _sum(
            cols.integer(get("packets"), "packets", problems),
            cols.integer(get("packets2"), "packets", problems),
        )
    else:
        arrays["bytes"] = cols.integer(get("bytes"), "bytes", problems)
        arrays["packets"] = cols.integer(get("packets"), "packets", problems)
    if "uid" in index:
        arrays["uid"] = cols.text(get("uid"))
    return arrays


def _delimited(
    handle: IO[bytes],
    name: str,
    sep: str,
    index: dict[str, int | None],
    width: int,
    *,
    first_line: int,
    naive_is_utc: bool,
    comment: bytes | None = None,
    at_least: bool = False,
    stop: bytes | None = None,
) -> Iterator[Batch]:
    number = first_line
    for block in blocks(handle, BLOCK, name):
        size = len(block)
        if stop is not None:
            at = block.find(stop)
            if at >= 0 and (at == 0 or block[at - 1 : at] == b"\n"):
                block = block[:at]  # nfdump's trailing "Summary" block is not data
        lines, number = _lines(block, number, comment=comment)
        if lines.raw:
            text, utf8_bad = _strings(lines.raw)
            problems = cols.Problems(len(lines.raw))
            fields = _split(text, sep, width, problems, at_least=at_least)
            batch = _finish(
                lines,
                problems,
                _columns(fields, index, len(lines.raw), problems, naive_is_utc=naive_is_utc),
                utf8_bad,
            )
        else:
            batch = Batch(pa.Table.from_pylist([], schema=SCHEMA), np.zeros(0, np.int64), [])
        batch.bytes_read = size
        yield batch
        if stop is not None and block is not None and len(block) < size:
            return


def _header(handle: BinaryIO) -> tuple[bytes, int]:
    """The first non-blank line and the number of lines it took."""
    count = 0
    while True:
        line = handle.readline()
        if not line:
            return b"", count
        count += 1
        if line.strip():
            return line.rstrip(b"\r\n").lstrip(b"\xef\xbb\xbf"), count


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


def read_csv(flow_input: FlowInput) -> Iterator[Batch]:
    """Generic CSV (DESIGN.md): a header naming the columns, in any order."""
    with open_decoded(flow_input) as handle:
        header, used = _header(handle)
        names = [c.strip().strip('"').lower() for c in header.decode("utf-8", "replace").split(",")]
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
        yield from _delimited(
            handle,
            flow_input.name,
            ",",
            index,
            len(names),
            first_line=first_line,
            naive_is_utc=False,
        )


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


def read_nfdump_csv(flow_input: FlowInput) -> Iterator[Batch]:
    """``nfdump -o csv`` output: header line optional, trailing Summary block ignored."""
    with open_decoded(flow_input) as handle:
        first, used = _header(handle)
        if first.startswith(b"ts,"):
            names = [c.strip() for c in first.decode("utf-8", "replace").split(",")]
            start = used + 1
        else:
            names, start = _NFDUMP_CSV_DEFAULT, 1
            handle.seek(0)
        yield from _delimited(
            handle,
            flow_input.name,
            ",",
            _nfdump_index(names),
            len(names),
            first_line=start,
            naive_is_utc=True,
            at_least=True,
            stop=b"Summary",
        )


def read_zeek(flow_input: FlowInput) -> Iterator[Batch]:
    """Zeek conn.log, TSV with its ``#`` header lines."""
    with open_decoded(flow_input) as handle:
        sep, names, number = "\t", None, 0
        while names is None:
            line = handle.readline()
            if not line:
                raise InputError(
                    flow_input.name,
                    "has a Zeek header but no #fields line",
                    expected="#fields ts uid id.orig_h ...",
                )
            number += 1
            text = line.rstrip(b"\r\n").decode("utf-8", "replace")
            if text.startswith("#separator"):
                sep = text.split(" ", 1)[1].encode().decode("unicode_escape")
            elif text.startswith("#fields"):
                names = text.split(sep)[1:]
        index = _zeek_index(names, flow_input.name, number)
        yield from _delimited(
            handle,
            flow_input.name,
            sep,
            index,
            len(names),
            first_line=_resume(handle, flow_input.start, number + 1),
            naive_is_utc=False,
            comment=b"#",
        )


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


def read_zeek_json(flow_input: FlowInput) -> Iterator[Batch]:
    """Zeek conn.log as JSON lines. Each line's fields are re-joined as tab-separated text and
    go through the same converters as the TSV form."""
    with open_decoded(flow_input) as handle:
        number = _resume(handle, flow_input.start, 1)
        for block in blocks(handle, BLOCK, flow_input.name):
            lines, number = _lines(block, number)
            if not lines.raw:
                continue
            text = _json_as_tsv(lines.raw)
            problems = cols.Problems(len(lines.raw))
            fields = _split(text, "\t", len(_ZEEK_JSON_FIELDS), problems)
            index = _zeek_index(_ZEEK_JSON_FIELDS, flow_input.name, 1)
            utf8_bad = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False))
            batch = _finish(
                lines,
                problems,
                _columns(fields, index, len(lines.raw), problems, naive_is_utc=False),
                utf8_bad,
            )
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


def read_nfcapd(flow_input: FlowInput, nfdump_filter: str) -> Iterator[Batch]:
    """nfcapd files through the real nfdump: nfdump's C code applies the watch filter and
    prints only the fields chainwatch uses, in UTC."""
    argv = [
        nfdump_binary(),
        "-r",
        str(flow_input.path),
        "-q",
        "-N",
        "-o",
        NFDUMP_FMT,
        nfdump_filter,
    ]
    env = dict(os.environ, TZ="UTC")
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        index = _nfdump_index(_NFDUMP_FMT_NAMES)
        try:
            yield from _delimited(
                proc.stdout,
                flow_input.name,
                ",",
                index,
                len(_NFDUMP_FMT_NAMES),
                first_line=1,
                naive_is_utc=True,
            )
        finally:
            if proc.poll() is None:
                proc.kill()
        error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0:
            reason = error.splitlines()[-1] if error else f"exit status {proc.returncode}"
            raise InputError(
                flow_input.name, f"nfdump could not read it: {reason}", expected="an nfcapd file"
            )
