"""The plain conversion path: the common rows of a block converted straight from its bytes
(``spans.plain_*``), without Python per row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from chainwatch.flows import dialect
from chainwatch.flows.inputs import Lines
from chainwatch.flows.limits import MAX_COUNT
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.exact import sum_known
from chainwatch.flows.spans import Spans, plain_integer, plain_protocol, plain_text, plain_time

# -- The plain path: the common rows, straight from the bytes ---------------------------------


def _field_spans(
    data: np.ndarray,
    buffer: pa.Buffer,
    start: np.ndarray,
    end: np.ndarray,
    rows: np.ndarray,
    layout: Layout,
    seps: np.ndarray,
) -> tuple[np.ndarray, dict[int, Spans]]:
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
                k: Spans(
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
        spans[k] = Spans(data, buffer, begin, stop)
    return fits, spans


def plain(
    data: np.ndarray,
    buffer: pa.Buffer,
    start: np.ndarray,
    end: np.ndarray,
    rows: np.ndarray,
    layout: Layout,
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
        good, values = plain_text(spans[where], ok, required=required)
        accepted.append(good)
        return values

    def integer(key: str, maximum: int | None = None) -> pa.Array:
        where = index.get(key)
        if where is None:
            return pa.nulls(n, pa.int64())
        good, values = plain_integer(spans[where], ok, maximum=maximum)
        accepted.append(good)
        return values

    arrays = {"src_ip": text("src_ip", required=True), "dst_ip": text("dst_ip", required=True)}
    ok = ok & accepted[0] & accepted[1]  # later fields need not look at rows already refused
    good, arrays["ts"] = plain_time(spans[ts], ok, naive_is_utc=layout.naive_is_utc)
    accepted.append(good)
    arrays["src_port"] = integer("src_port", 65535)
    arrays["dst_port"] = integer("dst_port", 65535)
    proto = index.get("proto")
    if proto is None:
        arrays["proto"] = pa.nulls(n, pa.string())
    else:
        good, arrays["proto"] = plain_protocol(spans[proto], ok)
        accepted.append(good)
    if "bytes2" in index:
        arrays["bytes"] = sum_known(integer("bytes", MAX_COUNT), integer("bytes2", MAX_COUNT))
        arrays["packets"] = sum_known(integer("packets", MAX_COUNT), integer("packets2", MAX_COUNT))
    else:
        arrays["bytes"] = integer("bytes", MAX_COUNT)
        arrays["packets"] = integer("packets", MAX_COUNT)
    if "uid" in index:
        arrays["uid"] = text("uid")
    for good in accepted:
        ok &= good
    return ok, arrays


def _unquote(spans: Spans) -> Spans:
    """The fields without the quotes around them (of the rows ``Quoted.plain`` allows: a
    field that starts with a quote ends with its closing one, and holds no other)."""
    wrapped = (spans.length >= 2) & (spans.first == dialect.QUOTE)
    if not wrapped.any():
        return spans
    return Spans(spans.data, spans.buffer, spans.start + wrapped, spans.end - wrapped)


def utf8_invalid(lines: Lines, buffer: pa.Buffer) -> np.ndarray:
    """Lines that are not UTF-8, among those with bytes above ASCII: Arrow checks them all
    at once, Python one by one only when some are bad."""
    invalid = np.zeros(len(lines), dtype=bool)
    if not lines.high.any():
        return invalid
    try:
        if len(lines.data) >= 1 << 31:  # beyond 32-bit offsets: one by one
            raise pa.ArrowInvalid("block too large")
        Spans(lines.data, buffer, lines.start, lines.end).array(lines.high, pa.binary()).cast(
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
