"""Zeek conn.log: TSV with its ``#`` header lines (again wherever a header repeats), and JSON
lines."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from chainwatch.errors import InputError
from chainwatch.flows.inputs import FlowInput, Lines, split_lines
from chainwatch.flows.limits import Limits, Overlong, blocks, default_limits, read_line
from chainwatch.flows.limits import open_stream as _open
from chainwatch.flows.readers import text as reading
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.convert import convert
from chainwatch.flows.readers.text import overlong, resumed
from chainwatch.observations import Batch, empty


def read_zeek(flow_input: FlowInput, limits: Limits | None = None) -> Iterator[Batch]:
    """Zeek conn.log, TSV with its ``#`` header lines. A header met again further on (logs
    joined with ``cat``, each with its own ``#separator`` and ``#fields``) sets the layout of
    the lines after it."""
    limits = limits or default_limits()
    name = flow_input.name
    with _open(flow_input.path, name, flow_input.stop) as handle:
        header, number = _ZeekHeader(name, limits), 0
        while header.layout is None:
            line = read_line(handle, limits.max_record_bytes, name)
            if not line:
                raise InputError(
                    name, "has a Zeek header but no #fields line", expected="#fields ts uid ..."
                )
            number += 1
            header.take(line, number)
        with resumed(handle, flow_input, number + 1) as data:
            number = data.first_line
            for chunk in blocks(data.handle, reading.BLOCK, limits.max_record_bytes):
                if isinstance(chunk, Overlong):
                    yield overlong(chunk, number, limits)
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
        self.layout: Layout | None = None

    def take(self, line: bytes, number: int) -> None:
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if text.startswith("#separator"):
            self.sep = text.split(" ", 1)[-1].encode().decode("unicode_escape")
        elif text.startswith("#fields"):
            names = text.split(self.sep)[1:]
            index = _zeek_index(names, self.name, number)
            self.layout = Layout(self.sep, len(names), index, False, limits=self.limits)


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
            batches.append(convert(lines, header.layout) if len(lines) else empty())
        if found < 0:
            return batches or [empty()], number
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
    with _open(flow_input.path, flow_input.name, flow_input.stop) as handle:
        index = _zeek_index(_ZEEK_JSON_FIELDS, flow_input.name, 1)
        layout = Layout("\t", len(_ZEEK_JSON_FIELDS), index, False, limits=limits)
        with resumed(handle, flow_input, 1) as data:
            number = data.first_line
            for block in blocks(data.handle, reading.BLOCK, limits.max_record_bytes):
                if isinstance(block, Overlong):
                    yield overlong(block, number, limits)
                    number += 1
                    continue
                lines, number = split_lines(block, number)
                batch = _json_batch(lines, layout)
                batch.bytes_read = len(block)  # a block of blank lines was read too
                yield batch


def _json_batch(lines: Lines, layout: Layout) -> Batch:
    if not len(lines):
        return empty()
    batch = convert(lines, layout, _json_as_tsv(lines.raw()))
    batch.bad_examples = [
        (
            line,
            "is not a JSON object"
            if reason.startswith("expected") or reason == "is not valid UTF-8"
            else reason,
        )
        for line, reason in batch.bad_examples
    ]
    return batch


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
