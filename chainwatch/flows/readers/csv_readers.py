"""Generic CSV (DESIGN.md) and ``nfdump -o csv`` output, both RFC 4180 (``dialect``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from chainwatch.errors import InputError
from chainwatch.flows import dialect
from chainwatch.flows.inputs import FlowInput
from chainwatch.flows.limits import Limits, default_limits
from chainwatch.flows.limits import open_stream as _open
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.text import BOM, delimited, read_header, resumed
from chainwatch.observations import Batch

#: The nfdump fields chainwatch asks nfdump for (``-o fmt:``), in this order.
NFDUMP_FMT = "fmt:%ts,%te,%sa,%da,%sp,%dp,%pr,%pkt,%byt"
NFDUMP_FMT_NAMES = ["ts", "te", "sa", "da", "sp", "dp", "pr", "pkt", "byt"]
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


def read_csv(flow_input: FlowInput, limits: Limits | None = None) -> Iterator[Batch]:
    """Generic CSV (DESIGN.md): a header naming the columns, in any order."""
    limits = limits or default_limits()
    with _open(flow_input.path, flow_input.name, flow_input.stop) as handle:
        header, used = read_header(handle, flow_input.name, limits)
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
        layout = Layout(",", len(names), index, naive_is_utc=False, quoting=True, limits=limits)
        with resumed(handle, flow_input, used + 1) as data:
            yield from delimited(data.handle, flow_input.name, layout, first_line=data.first_line)


def _names(header: bytes) -> list[str]:
    """A CSV header's column names (RFC 4180: perhaps quoted), lower case."""
    return [
        c.decode("utf-8", "replace").strip().strip('"').lower()
        for c in dialect.split_record(header, b",")
    ]


def nfdump_index(names: Sequence[str]) -> dict[str, int | None]:
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


#: What nfdump prints in place of records when there are none (or its filter kept none).
NO_FLOWS = b"No matching flows"


def read_nfdump_csv(flow_input: FlowInput, limits: Limits | None = None) -> Iterator[Batch]:
    """``nfdump -o csv`` output: header line optional, trailing Summary block ignored. A
    resumed read or a piece (``FlowInput.start``) starts there, after the header."""
    limits = limits or default_limits()
    with _open(flow_input.path, flow_input.name, flow_input.stop) as handle:
        first, used = read_header(handle, flow_input.name, limits)
        names = _names(first)
        if names[0] == "ts":
            start = used + 1
        else:
            names, start = _NFDUMP_CSV_DEFAULT, 1
            handle.seek(0)
            if handle.read(3) != BOM:
                handle.seek(0)
        layout = Layout(
            ",",
            len(names),
            nfdump_index(names),
            naive_is_utc=True,
            at_least=True,
            quoting=True,
            limits=limits,
        )
        with resumed(handle, flow_input, start) as data:
            yield from delimited(
                data.handle,
                flow_input.name,
                layout,
                first_line=data.first_line,
                stop=(b"Summary", NO_FLOWS),
            )
